package io.smp4j.core.device;

import ai.djl.ndarray.NDArray;
import io.smp4j.pipeline.djl.TensorMemory;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import jcuda.Pointer;
import jcuda.runtime.JCuda;
import jcuda.runtime.cudaEvent_t;
import jcuda.runtime.cudaIpcMemHandle;
import jcuda.runtime.cudaMemcpyKind;
import jcuda.runtime.cudaStream_t;

/**
 * The CUDA memory operations the device paths need, through JCuda's runtime API: raw device buffers, their IPC
 * handles, and copies between any two device addresses (unified addressing: this GPU, a peer GPU, another process's
 * buffer mapped here), device memory only. JCuda carries its own CUDA runtime beside PyTorch's: both drive the same primary context of a
 * device, and their work meets on its legacy default stream, where PyTorch queues its kernels too, so a copy queued
 * here runs after the kernels that produced its source. The current device is per runtime and per thread: every
 * entry point names its GPU.
 */
public final class Cuda {
    /** Bytes of a CUDA IPC memory handle. */
    public static final int HANDLE_BYTES = 64;
    private static final cudaStream_t LEGACY_DEFAULT_STREAM = new cudaStream_t();
    private static final Field RESERVED;

    static {
        JCudaNatives.prepare();
        JCuda.setExceptionsEnabled(true);
        try {
            RESERVED = cudaIpcMemHandle.class.getDeclaredField("reserved");
            RESERVED.setAccessible(true);
        } catch (NoSuchFieldException e) {
            throw new ExceptionInInitializerError("this JCuda's cudaIpcMemHandle has no 'reserved' bytes: " + e);
        }
    }

    private Cuda() {
    }

    /** Makes {@code gpu} this thread's current device (for JCuda's runtime; PyTorch keeps its own). */
    public static void use(int gpu) {
        JCuda.cudaSetDevice(gpu);
    }

    /** The address of a contiguous PyTorch-engine array's memory (device memory for a GPU array). */
    public static Pointer of(NDArray a) {
        return Pointer.to(TensorMemory.of(a));
    }

    /** The address {@code offset} bytes into a contiguous array's memory. */
    public static Pointer of(NDArray a, long offset, long bytes) {
        ByteBuffer all = TensorMemory.of(a);
        return Pointer.to(all.slice(Math.toIntExact(offset), Math.toIntExact(bytes)));
    }

    public static Pointer malloc(long bytes) {
        Pointer p = new Pointer();
        JCuda.cudaMalloc(p, bytes);
        return p;
    }

    public static void free(Pointer p) {
        JCuda.cudaFree(p);
    }

    /** The IPC handle of memory from {@link #malloc}: another process of this host opens it with {@link #open}. */
    public static byte[] exportHandle(Pointer devicePointer) {
        cudaIpcMemHandle h = new cudaIpcMemHandle();
        JCuda.cudaIpcGetMemHandle(h, devicePointer);
        try {
            return ((byte[]) RESERVED.get(h)).clone();
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Maps another process's buffer into this one (peer access enabled where the GPUs allow it). */
    public static Pointer open(byte[] handle) {
        cudaIpcMemHandle h = new cudaIpcMemHandle();
        try {
            System.arraycopy(handle, 0, (byte[]) RESERVED.get(h), 0, HANDLE_BYTES);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
        Pointer p = new Pointer();
        JCuda.cudaIpcOpenMemHandle(p, h, JCuda.cudaIpcMemLazyEnablePeerAccess);
        return p;
    }

    public static void close(Pointer mapped) {
        JCuda.cudaIpcCloseMemHandle(mapped);
    }

    /**
     * Queues a copy of {@code bytes} between two device addresses (this GPU's, or a peer's mapped here: unified
     * addressing) on the legacy default stream; returns before it ran. The kind is named: JCuda 12.0 answers
     * cudaMemcpyDefault with cudaErrorInvalidMemcpyDirection (seen on an H200 host).
     */
    public static void copy(Pointer dst, Pointer src, long bytes) {
        JCuda.cudaMemcpyAsync(dst, src, bytes, cudaMemcpyKind.cudaMemcpyDeviceToDevice, LEGACY_DEFAULT_STREAM);
    }

    /** Queues a copy of {@code bytes} from device memory to page-locked host memory; returns before it ran. */
    public static void copyToHost(Pointer host, Pointer device, long bytes) {
        JCuda.cudaMemcpyAsync(host, device, bytes, cudaMemcpyKind.cudaMemcpyDeviceToHost, LEGACY_DEFAULT_STREAM);
    }

    /** Queues a copy of {@code bytes} from page-locked host memory to device memory; returns before it ran. */
    public static void copyToDevice(Pointer device, Pointer host, long bytes) {
        JCuda.cudaMemcpyAsync(device, host, bytes, cudaMemcpyKind.cudaMemcpyHostToDevice, LEGACY_DEFAULT_STREAM);
    }

    /** The current device's free and total memory, in bytes: {@code {free, total}}. */
    public static long[] memory() {
        long[] free = new long[1];
        long[] total = new long[1];
        JCuda.cudaMemGetInfo(free, total);
        return new long[] {free[0], total[0]};
    }

    /** A new event that records its time (for {@link #record} and {@link #elapsedMillis}). */
    public static cudaEvent_t event() {
        cudaEvent_t e = new cudaEvent_t();
        JCuda.cudaEventCreate(e);
        return e;
    }

    /** Queues {@code e} on the legacy default stream: it completes when the work queued before it has run. */
    public static void record(cudaEvent_t e) {
        JCuda.cudaEventRecord(e, LEGACY_DEFAULT_STREAM);
    }

    /** Waits until {@code e} completed. */
    public static void await(cudaEvent_t e) {
        JCuda.cudaEventSynchronize(e);
    }

    /** Milliseconds of device time from {@code start} to {@code end}, both completed (about half a microsecond). */
    public static float elapsedMillis(cudaEvent_t start, cudaEvent_t end) {
        float[] ms = new float[1];
        JCuda.cudaEventElapsedTime(ms, start, end);
        return ms[0];
    }

    /** Waits until everything queued on the device's legacy default stream (PyTorch's kernels too) has run. */
    public static void synchronize() {
        JCuda.cudaStreamSynchronize(LEGACY_DEFAULT_STREAM);
    }

    /**
     * Starts (true) or stops (false) the range an attached CUDA profiler records ({@code ncu --profile-from-start
     * off}); without a profiler it does nothing. The device is synchronised first, so the range holds whole kernels.
     */
    public static void profilerRange(boolean start) {
        synchronize();
        if (start) {
            JCuda.cudaProfilerStart();
        } else {
            JCuda.cudaProfilerStop();
        }
    }
}
