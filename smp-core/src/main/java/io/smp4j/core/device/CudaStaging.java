package io.smp4j.core.device;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.smp4j.pipeline.djl.TensorMemory;
import io.smp4j.pipeline.exec.HostStaging;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jcuda.Pointer;
import jcuda.runtime.JCuda;
import jcuda.runtime.cudaMemcpyKind;

/**
 * The host path's copies between a GPU and Java memory through reused page-locked (pinned) host buffers: one
 * {@code cudaMemcpy} from the tensor's device memory at the bus's speed (DJL's own copy goes through pageable memory and
 * several host copies), then one bulk copy between the pinned buffer and the Java array the communicator sends from
 * (split over a few threads when large: {@link ParallelCopy}).
 * One buffer per direction, grown to the largest message and kept. A copy runs on the legacy default stream, PyTorch's,
 * so it follows the kernels that wrote the tensor and precedes those that read the new one.
 */
public final class CudaStaging implements HostStaging {
    private final int gpu;
    private final Pinned out = new Pinned();
    private final Pinned in = new Pinned();

    /** One growing page-locked buffer. */
    private static final class Pinned {
        Pointer memory;
        ByteBuffer view;
        long capacity;

        ByteBuffer of(long bytes) {
            if (capacity < bytes) {
                free();
                long size = Math.max(bytes, 1 << 20);
                memory = new Pointer();
                JCuda.cudaHostAlloc(memory, size, JCuda.cudaHostAllocDefault);
                view = memory.getByteBuffer(0, size).order(ByteOrder.nativeOrder());
                capacity = size;
            }
            view.clear();
            return view;
        }

        void free() {
            if (memory != null) {
                JCuda.cudaFreeHost(memory);
                memory = null;
                view = null;
                capacity = 0;
            }
        }
    }

    /** @param gpu the GPU this rank computes on */
    public CudaStaging(int gpu) {
        this.gpu = gpu;
    }

    @Override
    public synchronized void toHost(NDArray a, byte[] dst, int offset) {
        if (!a.getDevice().isGpu()) {
            HostStaging.DJL.toHost(a, dst, offset);
            return;
        }
        long bytes = a.size() * a.getDataType().getNumOfBytes();
        if (bytes == 0) {
            return;
        }
        ByteBuffer pinned = out.of(bytes);
        NDArray c = TensorMemory.contiguous(a);
        try {
            Cuda.use(gpu);
            JCuda.cudaMemcpy(out.memory, Cuda.of(c), bytes, cudaMemcpyKind.cudaMemcpyDeviceToHost);
        } finally {
            if (c != a) {
                c.close();
            }
        }
        ParallelCopy.bulk(Math.toIntExact(bytes), 1, (i, j) -> pinned.slice(i, j - i).get(dst, offset + i, j - i));
    }

    @Override
    public synchronized NDArray toDevice(NDManager manager, byte[] src, int offset, Shape shape, DataType type) {
        if (!manager.getDevice().isGpu()) {
            return HostStaging.DJL.toDevice(manager, src, offset, shape, type);
        }
        long bytes = shape.size() * type.getNumOfBytes();
        if (bytes == 0) {
            return manager.create(shape, type);
        }
        ByteBuffer pinned = in.of(bytes);
        ParallelCopy.bulk(Math.toIntExact(bytes), 1, (i, j) -> pinned.slice(i, j - i).put(src, offset + i, j - i));
        NDArray a = manager.create(shape, type);
        Cuda.use(gpu);
        JCuda.cudaMemcpy(Cuda.of(a), in.memory, bytes, cudaMemcpyKind.cudaMemcpyHostToDevice);
        return a;
    }

    @Override
    public synchronized void toHost(NDArray a, float[] dst, int at) {
        long bytes = a.size() * 4L;
        if (!a.getDevice().isGpu() || a.getDataType() != DataType.FLOAT32 || !TensorMemory.isContiguous(a)
                || bytes == 0) {
            HostStaging.super.toHost(a, dst, at);
            return;
        }
        ByteBuffer pinned = out.of(bytes);
        Cuda.use(gpu);
        JCuda.cudaMemcpy(out.memory, Cuda.of(a), bytes, cudaMemcpyKind.cudaMemcpyDeviceToHost);
        ParallelCopy.bulk(Math.toIntExact(a.size()), 4, (f, t) -> floats(pinned, f, t).get(dst, at + f, t - f));
    }

    @Override
    public synchronized void toDevice(float[] src, int at, NDArray target) {
        long bytes = target.size() * 4L;
        if (!target.getDevice().isGpu() || target.getDataType() != DataType.FLOAT32
                || !TensorMemory.isContiguous(target) || bytes == 0) {
            HostStaging.super.toDevice(src, at, target);
            return;
        }
        ByteBuffer pinned = in.of(bytes);
        ParallelCopy.bulk(Math.toIntExact(target.size()), 4, (f, t) -> floats(pinned, f, t).put(src, at + f, t - f));
        Cuda.use(gpu);
        JCuda.cudaMemcpy(Cuda.of(target), in.memory, bytes, cudaMemcpyKind.cudaMemcpyHostToDevice);
    }

    /** Floats {@code from} to {@code to} of a pinned buffer (a slice of its own: copies of other ranges run beside it). */
    private static java.nio.FloatBuffer floats(ByteBuffer pinned, int from, int to) {
        return pinned.slice(4 * from, 4 * (to - from)).order(ByteOrder.nativeOrder()).asFloatBuffer();
    }

    /** Frees the pinned buffers. */
    public synchronized void free() {
        out.free();
        in.free();
    }
}
