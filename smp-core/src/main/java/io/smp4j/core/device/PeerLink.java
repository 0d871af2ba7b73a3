package io.smp4j.core.device;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.smp4j.comm.CommRequest;
import io.smp4j.comm.Communicator;
import io.smp4j.pipeline.djl.TensorMemory;
import io.smp4j.pipeline.exec.DeviceLink;
import io.smp4j.pipeline.wire.TensorCodec;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntPredicate;
import jcuda.Pointer;

/**
 * Stage tensors between GPUs of one host through {@link PeerMemory}: the sender copies a message's arrays into a
 * buffer of its own for the (peer, slot), shared once; the receiver maps that buffer once and copies out of it into
 * new arrays on its GPU, then acknowledges. The communicator carries only the header (types, shapes, the buffer's
 * generation and handle) and the one-byte acknowledgement. With {@link PeerMemory#CUDA_IPC} (CUDA IPC) no tensor byte
 * passes through host memory (over NVLink where the GPUs have it); with {@link PinnedHostMemory} each byte crosses
 * page-locked host memory once, at the bus's speed. A slot's buffer grows (a new generation, re-mapped by the receiver)
 * when a message outgrows it. Arrays are laid out at 256-byte aligned offsets that both ends compute from the header.
 */
public final class PeerLink implements DeviceLink {
    static final int ALIGN = 256;
    static final int MAX_MESSAGE = 4096 + 8 + Cuda.HANDLE_BYTES;

    private final Communicator group;
    private final int gpu;
    private final IntPredicate reaches;
    private final PeerMemory buffers;
    private final Map<Long, Outgoing> outgoing = new HashMap<>();
    private final Map<Long, Incoming> incoming = new HashMap<>();
    /** Outgrown buffers: a peer may still map them, so they are freed only at {@link #close()}. */
    private final List<Pointer> retired = new ArrayList<>();

    /** A sender's buffer for one (peer, slot). */
    private static final class Outgoing {
        Pointer buffer;
        long capacity;
        int generation;
        byte[] handle;
        /** Whether the receiver has acknowledged the current generation (so it has mapped the buffer). */
        boolean opened;
        final byte[] message = new byte[MAX_MESSAGE];
        final byte[] ack = new byte[1];
    }

    /** A receiver's mapping of a sender's buffer. */
    private static final class Incoming {
        Pointer mapped;
        int generation = -1;
        final byte[] message = new byte[MAX_MESSAGE];
        final byte[] ack = new byte[1];
    }

    /**
     * @param group   the pipeline group (its ranks are the peers)
     * @param gpu     this rank's GPU
     * @param reaches which group ranks this link carries for (agreed by both ends, see {@link GpuPeers})
     * @param buffers where the messages lie
     */
    public PeerLink(Communicator group, int gpu, IntPredicate reaches, PeerMemory buffers) {
        this.group = group;
        this.gpu = gpu;
        this.reaches = reaches;
        this.buffers = buffers;
    }

    @Override
    public boolean reaches(int peer) {
        return reaches.test(peer);
    }

    /** Byte offsets of the arrays, 256-byte aligned, and the total size as the last element. */
    static long[] layout(TensorCodec.Header h) {
        long[] at = new long[h.count() + 1];
        long next = 0;
        for (int i = 0; i < h.count(); i++) {
            at[i] = next;
            next = (next + h.bytes(i) + ALIGN - 1) / ALIGN * ALIGN;
        }
        at[h.count()] = Math.max(next, ALIGN);
        return at;
    }

    /** The announcement: header length, header, buffer generation, IPC handle. */
    static int encode(byte[] into, TensorCodec.Header h, int generation, byte[] handle) {
        ByteBuffer b = ByteBuffer.wrap(into);
        int size = h.size();
        if (size + 8 + Cuda.HANDLE_BYTES > into.length) {
            throw new IllegalArgumentException("cannot send " + h + ": more arrays or dimensions than a stage link "
                    + "header holds");
        }
        b.putInt(size);
        h.writeTo(b);
        b.putInt(generation).put(handle);
        return b.position();
    }

    /** Decoded announcement. */
    record Announcement(TensorCodec.Header header, int generation, byte[] handle) {
        static Announcement decode(byte[] bytes, int length) {
            ByteBuffer b = ByteBuffer.wrap(bytes, 0, length);
            int size = b.getInt();
            TensorCodec.Header h = TensorCodec.Header.fromBytes(Arrays.copyOfRange(bytes, 4, 4 + size), size);
            b.position(4 + size);
            int generation = b.getInt();
            byte[] handle = new byte[Cuda.HANDLE_BYTES];
            b.get(handle);
            return new Announcement(h, generation, handle);
        }
    }

    private static long key(int peer, long slot) {
        return (slot << 16) | peer;
    }

    @Override
    public void send(NDList arrays, int peer, long slot, int tag, int ackTag, List<CommRequest> pending) {
        Cuda.use(gpu);
        Outgoing o = outgoing.computeIfAbsent(key(peer, slot), k -> new Outgoing());
        TensorCodec.Header h = TensorCodec.Header.of(arrays);
        long[] at = layout(h);
        long bytes = at[h.count()];
        if (o.capacity < bytes) {
            if (o.buffer != null) {
                retired.add(o.buffer); // freeing memory another process maps is undefined in CUDA
            }
            o.buffer = buffers.allocate(bytes);
            o.capacity = bytes;
            o.generation++;
            o.handle = buffers.handle(o.buffer);
            o.opened = false;
        } else if (!o.opened) {
            // The previous message's acknowledgement has come (a slot is reused only then): the peer mapped the buffer.
            buffers.opened(o.buffer);
            o.opened = true;
        }
        for (int i = 0; i < arrays.size(); i++) {
            if (h.bytes(i) == 0) {
                continue;
            }
            NDArray a = arrays.get(i);
            // Device memory only: an array on the CPU (an index, say) goes to this GPU first.
            NDArray c = a.getDevice().isGpu() ? TensorMemory.contiguous(a) : a.toDevice(Device.gpu(gpu), true);
            try {
                buffers.toBuffer(o.buffer.withByteOffset(at[i]), Cuda.of(c), h.bytes(i));
            } finally {
                if (c != a) {
                    c.close(); // freed in stream order: the copy queued above runs first
                }
            }
        }
        Cuda.synchronize(); // the receiver copies as soon as it reads the announcement
        int n = encode(o.message, h, o.generation, o.handle);
        pending.add(group.isend(o.message, 0, n, peer, tag));
        pending.add(group.irecv(o.ack, 0, 1, peer, ackTag));
    }

    @Override
    public NDList recv(NDManager scope, int peer, long slot, int tag, int ackTag) {
        Cuda.use(gpu);
        Incoming in = incoming.computeIfAbsent(key(peer, slot), k -> new Incoming());
        int n = group.recv(in.message, 0, in.message.length, peer, tag);
        Announcement a = Announcement.decode(in.message, n);
        if (a.generation() != in.generation) {
            if (in.mapped != null) {
                buffers.close(in.mapped);
            }
            in.mapped = buffers.open(a.handle());
            in.generation = a.generation();
        }
        TensorCodec.Header h = a.header();
        long[] at = layout(h);
        NDList out = new NDList(h.count());
        for (int i = 0; i < h.count(); i++) {
            NDArray x = scope.create(h.shapes().get(i), h.types().get(i));
            out.add(x);
            if (h.bytes(i) == 0) {
                continue;
            }
            buffers.fromBuffer(Cuda.of(x), in.mapped.withByteOffset(at[i]), h.bytes(i));
        }
        Cuda.synchronize(); // read out before the acknowledgement frees the sender's buffer
        group.send(in.ack, 0, 1, peer, ackTag);
        return out;
    }

    /** Unmaps the peers' buffers (first step of closing: see {@link DeviceResources}). */
    public void unmap() {
        Cuda.use(gpu);
        for (Incoming in : incoming.values()) {
            if (in.mapped != null) {
                buffers.close(in.mapped);
            }
        }
        incoming.clear();
    }

    /** Frees this rank's buffers, once no peer maps them any more (second step). */
    public void free() {
        Cuda.use(gpu);
        for (Outgoing o : outgoing.values()) {
            if (o.buffer != null) {
                buffers.free(o.buffer);
            }
        }
        retired.forEach(buffers::free);
        retired.clear();
        outgoing.clear();
    }
}
