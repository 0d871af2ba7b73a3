package io.smp4j.core;

import io.smp4j.core.device.Cuda;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A step ran out of GPU memory. The message names the rank, its stage, what PyTorch asked for and what the GPU has
 * free, and what to change; the job ends (the other ranks lose this one and stop), and {@code --max-restarts} does not
 * retry it forever (the same failure twice in a row is not restarted).
 */
public final class DeviceMemoryException extends IllegalStateException {
    private static final Pattern ASKED = Pattern.compile("Tried to allocate ([0-9.]+ [KMGT]?i?B)");

    DeviceMemoryException(String message, Throwable cause) {
        super(message, cause);
    }

    /** Whether {@code e} (or a cause) is PyTorch's CUDA out-of-memory error. */
    static boolean isOutOfMemory(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = t.getMessage();
            if (m != null && m.contains("CUDA out of memory")) {
                return true;
            }
        }
        return false;
    }

    /** The error for rank {@code rank} (stage {@code stage} of {@code stages}) on GPU {@code gpu}. */
    static DeviceMemoryException of(Throwable e, int rank, int stage, int stages, String gpu) {
        String asked = "more than it had";
        for (Throwable t = e; t != null; t = t.getCause()) {
            Matcher m = t.getMessage() == null ? null : ASKED.matcher(t.getMessage());
            if (m != null && m.find()) {
                asked = m.group(1);
                break;
            }
        }
        String free;
        try {
            long[] mem = Cuda.memory();
            free = String.format(Locale.ROOT, "%.2f GiB free of %.2f GiB", mem[0] / 1073741824.0,
                    mem[1] / 1073741824.0);
        } catch (RuntimeException | LinkageError x) {
            free = "an unknown amount free (" + x + ")";
        }
        return new DeviceMemoryException(String.format(Locale.ROOT, "rank %d (stage %d of %d) ran out of GPU memory on "
                + "%s: PyTorch asked for %s, the GPU has %s now; use more partitions, more (smaller) microbatches, "
                + "activation_checkpointing, fewer active_microbatches or fp16", rank, stage, stages, gpu, asked,
                free), e);
    }
}
