package io.smp4j.core.device;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.smp4j.comm.Communicator;
import io.smp4j.pipeline.djl.TensorMemory;
import java.nio.ByteBuffer;
import java.util.List;
import jcuda.Pointer;

/**
 * Averages float32 arrays (a stage's gradients) over a group whose ranks are GPUs of one host, on the GPUs: each rank
 * packs its arrays into a {@link PeerMemory peer buffer} of its own, shared once and mapped by every other rank;
 * after a barrier, every rank sums all the buffers in rank order on its GPU, so that every rank computes the same float
 * operations and ends with bitwise the same average; a second barrier keeps the buffers until everyone has read them;
 * the average is unpacked into the arrays. The communicator carries only the barriers (and, once, the handles). With
 * CUDA IPC buffers no byte passes through host memory (peers are read over NVLink where the GPUs have it); with
 * {@link PinnedHostMemory} each rank's values cross page-locked host memory once out and once into each peer.
 */
public final class PeerAllReduce {
    private final Communicator group;
    private final int gpu;
    private final NDManager manager;
    private final PeerMemory memory;
    private long floats = -1;
    private Pointer mine;
    private Pointer[] buffers;
    private NDArray sum;
    private NDArray scratch;

    /** Where one average spent its time, in milliseconds: packing and unpacking; barriers and summing. */
    public record Times(double copyMillis, double allReduceMillis) {
    }

    /**
     * @param group   the ranks to average over (all on GPUs of this host, each reaching every other: {@link GpuPeers})
     * @param gpu     this rank's GPU
     * @param manager where the summing arrays live (this rank's device)
     * @param memory  the kind of buffers the ranks share
     */
    public PeerAllReduce(Communicator group, int gpu, NDManager manager, PeerMemory memory) {
        this.group = group;
        this.memory = memory;
        this.gpu = gpu;
        this.manager = manager.newSubManager();
    }

    /** Collective: (re)creates the buffers for {@code n} floats per rank and maps the peers'. */
    private void setUp(long n) {
        Cuda.use(gpu);
        long bytes = Math.max(4, n * 4);
        mine = memory.allocate(bytes);
        byte[][] handles = group.allGather(memory.handle(mine));
        buffers = new Pointer[group.size()];
        for (int r = 0; r < group.size(); r++) {
            buffers[r] = r == group.rank() ? mine : memory.open(handles[r]);
        }
        group.barrier(); // every rank has mapped every buffer
        memory.opened(mine);
        sum = manager.zeros(new Shape(n), DataType.FLOAT32);
        scratch = manager.zeros(new Shape(n), DataType.FLOAT32);
        floats = n;
    }

    /** Collective: replaces every array of {@code arrays} (float32, same shapes on every rank) by its group average. */
    public Times average(List<NDArray> arrays) {
        long t0 = System.nanoTime();
        long n = 0;
        for (NDArray a : arrays) {
            if (a.getDataType() != DataType.FLOAT32) {
                throw new IllegalArgumentException("GPU all-reduce of " + a.getDataType() + " arrays: float32 only");
            }
            n += a.size();
        }
        if (n != floats) {
            release();
            setUp(n);
        }
        Cuda.use(gpu);
        long at = 0;
        for (NDArray a : arrays) {
            NDArray c = TensorMemory.contiguous(a);
            try {
                memory.toBuffer(mine.withByteOffset(at), Cuda.of(c), a.size() * 4);
            } finally {
                if (c != a) {
                    c.close();
                }
            }
            at += a.size() * 4;
        }
        Cuda.synchronize();
        long t1 = System.nanoTime();
        group.barrier(); // every buffer holds its rank's values
        ByteBuffer sumMemory = TensorMemory.of(sum);
        ByteBuffer scratchMemory = TensorMemory.of(scratch);
        memory.fromBuffer(Pointer.to(sumMemory), buffers[0], n * 4);
        for (int r = 1; r < buffers.length; r++) {
            memory.fromBuffer(Pointer.to(scratchMemory), buffers[r], n * 4);
            sum.addi(scratch); // queued after the copy on the same (legacy default) stream
        }
        sum.divi(buffers.length);
        Cuda.synchronize(); // the peers' buffers are read
        group.barrier(); // ... by every rank: they may be overwritten from here on
        long t2 = System.nanoTime();
        at = 0;
        for (NDArray a : arrays) {
            long bytes = a.size() * 4;
            if (TensorMemory.isContiguous(a)) {
                Cuda.copy(Cuda.of(a), Pointer.to(sumMemory.slice(Math.toIntExact(at), Math.toIntExact(bytes))), bytes);
            } else {
                // A raw copy into a strided array would overrun it: arithmetic respects its layout.
                try (NDArray part = sum.get(at / 4 + ":" + (at / 4 + a.size())); NDArray view = part.reshape(
                        a.getShape())) {
                    a.subi(a).addi(view);
                }
            }
            at += bytes;
        }
        long t3 = System.nanoTime();
        return new Times((t1 - t0 + t3 - t2) / 1e6, (t2 - t1) / 1e6);
    }

    /** Collective over the group: unmaps, waits for every rank to have unmapped, frees. */
    private void release() {
        if (buffers == null) {
            return;
        }
        unmap();
        group.barrier();
        freeBuffers();
    }

    /** Unmaps the peers' buffers (first step of closing: see {@link DeviceResources}). */
    public void unmap() {
        if (buffers == null) {
            return;
        }
        Cuda.use(gpu);
        for (int r = 0; r < buffers.length; r++) {
            if (buffers[r] != mine) {
                memory.close(buffers[r]);
            }
        }
        buffers = null;
    }

    /** Frees this rank's buffer and arrays, once no peer maps it any more (second step). */
    public void free() {
        freeBuffers();
        manager.close();
    }

    private void freeBuffers() {
        if (mine != null) {
            Cuda.use(gpu);
            memory.free(mine);
            mine = null;
            sum.close();
            scratch.close();
        }
        floats = -1;
    }
}
