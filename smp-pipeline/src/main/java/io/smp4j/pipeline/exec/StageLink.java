package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.smp4j.comm.CommRequest;
import io.smp4j.comm.Communicator;
import io.smp4j.pipeline.djl.DjlInternals;
import io.smp4j.pipeline.schedule.Action;
import io.smp4j.pipeline.wire.TensorCodec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The one seam where tensors leave this rank for a neighbouring stage and arrive from one: activations forward,
 * gradients backward, each message a list of arrays in {@link TensorCodec}'s format (header, then the data with its
 * CRC32C, checked on arrival). The data goes device -> a host staging buffer -> the communicator -> a host staging
 * buffer -> the device; the staging buffers belong to a (direction, microbatch) slot and are reused step after step,
 * so a steady run allocates no data buffers.
 *
 * <p>Where a {@link DeviceLink} reaches the peer (GPUs of one host), the tensors go device to device instead and the
 * communicator carries only their header one way and an acknowledgement back (on the data tag).
 *
 * <p>Tags are derived from the microbatch and the direction, so that a stage can have several microbatches in
 * flight; the same tags recur every step, and in-order delivery per (peer, tag) keeps the steps apart.
 */
final class StageLink {
    /** Largest header: count, per array a type name and up to 8 dimensions, sizes and checksum. */
    static final int MAX_HEADER_BYTES = 4096;

    enum Direction {
        ACTIVATION, GRADIENT
    }

    private final Communicator group;
    /** Device-to-device path for the peers it reaches, or null. */
    private DeviceLink device;
    /** Staging buffers of what this rank sends and receives, by (direction, microbatch). */
    private final Map<Long, Slot> sending = new HashMap<>();
    private final Map<Long, Slot> receiving = new HashMap<>();

    StageLink(Communicator group) {
        this.group = group;
    }

    void setDeviceLink(DeviceLink link) {
        this.device = link;
    }

    /** How the host path copies between the device and the messages (null: through DJL). */
    private HostStaging staging;

    void setHostStaging(HostStaging staging) {
        this.staging = staging;
    }

    /**
     * Whether {@code a} (a receive or send) crosses the edge below its stage: activations come in from the previous
     * rank and gradients go back to it; the other two cross the edge above, to and from the next rank.
     */
    private static boolean below(Action a) {
        return a.type() == Action.Type.RECV_ACTIVATION || a.type() == Action.Type.SEND_GRADIENT;
    }

    private int peer(Action a) {
        return (group.rank() + (below(a) ? -1 : 1) + group.size()) % group.size();
    }

    /** The slot of {@code a} of global stage {@code g}, M = {@code m}: its edge times M plus its microbatch. */
    private static int slot(Action a, int g, int m) {
        return (below(a) ? g - 1 : g) * m + a.microbatch();
    }

    private static Direction direction(Action a) {
        return a.type() == Action.Type.RECV_ACTIVATION || a.type() == Action.Type.SEND_ACTIVATION
                ? Direction.ACTIVATION : Direction.GRADIENT;
    }

    /** Receives what {@code receive} (of global stage {@code g}, M = {@code m}) waits for. */
    NDList recv(NDManager scope, Action receive, int g, int m) {
        return recv(scope, peer(receive), direction(receive), slot(receive, g, m));
    }

    /** Starts what {@code send} (of global stage {@code g}, M = {@code m}) sends. */
    void send(NDList arrays, Action send, int g, int m, List<CommRequest> pending) {
        send(arrays, peer(send), direction(send), slot(send, g, m), pending);
    }

    /** Whether what {@code receive} (of global stage {@code g}, M = {@code m}) waits for is here, without waiting. */
    boolean arrived(Action receive, int g, int m) {
        return arrived(peer(receive), direction(receive), slot(receive, g, m));
    }

    private boolean direct(int peer) {
        return device != null && device.reaches(peer);
    }

    private static long key(Direction dir, int microbatch) {
        return ((long) microbatch << 1) | dir.ordinal();
    }

    /** A slot's reused buffers. */
    private static final class Slot {
        final byte[] header = new byte[MAX_HEADER_BYTES];
        byte[] data = new byte[0];
        ByteBuffer direct = ByteBuffer.allocateDirect(0);
        /** A receive of the header posted by {@link #arrived} and not yet taken by {@link #recv}, or null. */
        CommRequest posted;

        byte[] data(int bytes) {
            if (data.length < bytes) {
                data = new byte[bytes];
            }
            return data;
        }

        ByteBuffer direct(int bytes) {
            if (direct.capacity() < bytes) {
                direct = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
            }
            direct.clear();
            return direct;
        }
    }

    private static Slot slot(Map<Long, Slot> slots, Direction dir, int microbatch) {
        return slots.computeIfAbsent(key(dir, microbatch), k -> new Slot());
    }

    static int tag(Direction dir, int microbatch, boolean header) {
        return 4 * microbatch + (dir == Direction.ACTIVATION ? 0 : 2) + (header ? 0 : 1);
    }

    /** Starts sending {@code arrays}; the returned requests must be awaited before the slot is used again. */
    void send(NDList arrays, int peer, Direction dir, int microbatch, List<CommRequest> pending) {
        if (direct(peer)) {
            device.send(arrays, peer, key(dir, microbatch), tag(dir, microbatch, true), tag(dir, microbatch, false),
                    pending);
            return;
        }
        Slot s = slot(sending, dir, microbatch);
        TensorCodec.Header h = TensorCodec.Header.of(arrays);
        int bytes = Math.toIntExact(h.dataBytes());
        ByteBuffer data = ByteBuffer.wrap(s.data(bytes), 0, bytes);
        if (staging != null) {
            int at = 0;
            for (NDArray a : arrays) {
                staging.toHost(a, s.data, at);
                at += Math.toIntExact(a.size() * a.getDataType().getNumOfBytes());
            }
        } else {
            for (NDArray a : arrays) {
                DjlInternals.copyToHost(a, data);
            }
        }
        h = h.withCrc(TensorCodec.crc32c(s.data, 0, bytes));
        if (h.size() > MAX_HEADER_BYTES) {
            throw new IllegalArgumentException("cannot send " + h + ": more arrays or dimensions than a stage link "
                    + "header holds (" + MAX_HEADER_BYTES + " bytes)");
        }
        ByteBuffer head = ByteBuffer.wrap(s.header);
        h.writeTo(head);
        pending.add(group.isend(s.header, 0, head.position(), peer, tag(dir, microbatch, true)));
        pending.add(group.isend(s.data, 0, bytes, peer, tag(dir, microbatch, false)));
    }

    /**
     * Whether the peer's next message for this slot has begun to arrive (its header is here), without waiting: posts the
     * header's receive, which the next {@link #recv} of the slot completes. Over a {@link DeviceLink} the answer is
     * always true (it has no such probe), so a caller that waits only for what has not arrived keeps its order there.
     */
    boolean arrived(int peer, Direction dir, int microbatch) {
        if (direct(peer)) {
            return true;
        }
        Slot s = slot(receiving, dir, microbatch);
        if (s.posted == null) {
            s.posted = group.irecv(s.header, 0, s.header.length, peer, tag(dir, microbatch, true));
        }
        return s.posted.isDone();
    }

    /** Receives what the peer sent for this slot, as arrays of {@code scope} (on its device). */
    NDList recv(NDManager scope, int peer, Direction dir, int microbatch) {
        if (direct(peer)) {
            return device.recv(scope, peer, key(dir, microbatch), tag(dir, microbatch, true),
                    tag(dir, microbatch, false));
        }
        Slot s = slot(receiving, dir, microbatch);
        int n;
        if (s.posted != null) {
            CommRequest header = s.posted;
            s.posted = null;
            n = header.await();
        } else {
            n = group.recv(s.header, 0, s.header.length, peer, tag(dir, microbatch, true));
        }
        TensorCodec.Header h = TensorCodec.Header.fromBytes(s.header, n);
        int bytes = Math.toIntExact(h.dataBytes());
        byte[] data = s.data(bytes);
        int got = group.recv(data, 0, bytes, peer, tag(dir, microbatch, false));
        if (got != bytes) {
            throw new IllegalStateException("received " + got + " bytes of " + describe(dir, microbatch, peer)
                    + " where its header " + h + " announced " + bytes);
        }
        if (TensorCodec.crc32c(data, 0, bytes) != h.crc32c()) {
            throw new IllegalStateException("the " + describe(dir, microbatch, peer)
                    + " arrived corrupted (checksum mismatch)");
        }
        if (staging != null) {
            NDList out = new NDList();
            int at = 0;
            for (int i = 0; i < h.shapes().size(); i++) {
                NDArray a = staging.toDevice(scope, data, at, h.shapes().get(i), h.types().get(i));
                out.add(a);
                at += Math.toIntExact(a.size() * a.getDataType().getNumOfBytes());
            }
            return out;
        }
        ByteBuffer direct = s.direct(bytes);
        direct.put(data, 0, bytes).flip();
        return TensorCodec.arrays(scope, h, direct);
    }

    private String describe(Direction dir, int microbatch, int peer) {
        return (dir == Direction.ACTIVATION ? "activation" : "gradient") + " of microbatch " + microbatch
                + " from rank " + peer;
    }
}
