package io.smp4j.core.device;

import java.util.Locale;

/**
 * One GPU as the driver reports it.
 *
 * @param index      CUDA device ordinal
 * @param name       e.g. {@code NVIDIA H200}
 * @param totalBytes global memory
 * @param freeBytes  free memory when probed, or -1 when not probed (probing creates a context on the device)
 */
public record Gpu(int index, String name, long totalBytes, long freeBytes) {
    @Override
    public String toString() {
        return String.format(Locale.ROOT, "GPU %d: %s, %.1f GiB%s", index, name, totalBytes / 1073741824.0,
                freeBytes >= 0 ? String.format(Locale.ROOT, " (%.1f GiB free)", freeBytes / 1073741824.0)
                        : "");
    }
}
