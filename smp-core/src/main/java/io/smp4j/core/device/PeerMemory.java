package io.smp4j.core.device;

import jcuda.Pointer;

/**
 * Memory that one process of a host fills from its GPU and other processes of the host read into theirs: what the
 * peer paths ({@link PeerLink}, {@link PeerAllReduce}) are built on. Two kinds: {@link #CUDA_IPC}, GPU memory shared
 * through CUDA IPC (no byte touches the host), and {@link PinnedHostMemory}, page-locked host memory shared through a
 * file in /dev/shm (the pairs CUDA IPC does not reach, or {@code smp.device.link=host}). A buffer has a handle of {@link
 * Cuda#HANDLE_BYTES} bytes that another process opens. Copies are queued on the legacy default stream, PyTorch's.
 */
public interface PeerMemory {
    /** In log lines: {@code CUDA IPC}, {@code pinned host memory}. */
    String describe();

    /** A new buffer of at least {@code bytes} for this process to fill. */
    Pointer allocate(long bytes);

    /** The handle another process of this host opens {@code buffer} with. */
    byte[] handle(Pointer buffer);

    /** Another process's buffer, mapped here. */
    Pointer open(byte[] handle);

    /** Unmaps a buffer {@link #open} returned. */
    void close(Pointer mapped);

    /** Frees a buffer of this process, once no other process maps it. */
    void free(Pointer buffer);

    /**
     * Every process that will open {@code buffer} has opened it (its handle is no longer needed: a file behind it may
     * go). Default: nothing.
     */
    default void opened(Pointer buffer) {
    }

    /** Queues a copy of {@code bytes} from device memory into a buffer (one of this process's, or one opened). */
    void toBuffer(Pointer buffer, Pointer device, long bytes);

    /** Queues a copy of {@code bytes} from a buffer into device memory. */
    void fromBuffer(Pointer device, Pointer buffer, long bytes);

    /** GPU memory shared through CUDA IPC: copies go device to device (over NVLink between GPUs that have it). */
    PeerMemory CUDA_IPC = new PeerMemory() {
        @Override
        public String describe() {
            return "CUDA IPC";
        }

        @Override
        public Pointer allocate(long bytes) {
            return Cuda.malloc(bytes);
        }

        @Override
        public byte[] handle(Pointer buffer) {
            return Cuda.exportHandle(buffer);
        }

        @Override
        public Pointer open(byte[] handle) {
            return Cuda.open(handle);
        }

        @Override
        public void close(Pointer mapped) {
            Cuda.close(mapped);
        }

        @Override
        public void free(Pointer buffer) {
            Cuda.free(buffer);
        }

        @Override
        public void toBuffer(Pointer buffer, Pointer device, long bytes) {
            Cuda.copy(buffer, device, bytes);
        }

        @Override
        public void fromBuffer(Pointer device, Pointer buffer, long bytes) {
            Cuda.copy(device, buffer, bytes);
        }
    };
}
