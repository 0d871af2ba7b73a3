package io.smp4j.core.device;

import java.util.List;

/** What smp4j asks the GPU driver; behind an interface so that selection is testable without a GPU. */
public interface GpuProbe {
    /** The GPUs of this host; throws {@link GpuUnavailableException} when there is no usable driver. */
    List<Gpu> gpus();

    /** Makes {@code index} this process's current device and returns it with its free memory. */
    Gpu use(int index);

    /**
     * Waits until all work queued on this process's current device has finished (cudaDeviceSynchronize): what a
     * clock read for GPU work needs first, since kernel launches return before the kernels run. Nothing by default.
     */
    default void synchronize() {
    }

    /** Whether {@code device} can access {@code peer}'s memory directly (NVLink / PCIe P2P). */
    boolean canAccessPeer(int device, int peer);

    /** No GPU can be used: no driver, too old a driver, no JCuda native library. */
    final class GpuUnavailableException extends RuntimeException {
        public GpuUnavailableException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
