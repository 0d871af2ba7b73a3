package io.smp4j.comm;

import io.smp4j.comm.shm.SharedMemoryAllReduce;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Everything a communicator needs above the four point-to-point primitives: argument checks, the timeout policy,
 * and the collectives (ring all-reduce, chain broadcast, ring all-gather, dissemination barrier, split). Both
 * transports inherit these, so they behave identically and pass one contract suite.
 */
public abstract class AbstractCommunicator implements Communicator {
    /** Tags above {@link #MAX_USER_TAG}: bit 24 set, then the collective's code, then a 16-bit index. */
    static final int TAG_ALLREDUCE = 1;
    static final int TAG_BROADCAST = 2;
    static final int TAG_ALLGATHER = 3;
    static final int TAG_BARRIER = 4;

    private final int rank;
    private final int size;
    private final String name;
    private final Duration timeout;
    private int splitCount;
    private int segmentFloats = RingAllReduce.DEFAULT_SEGMENT_FLOATS;
    private AllReduceAlgorithm allReduceAlgorithm = AllReduceAlgorithm.fromSystemProperty();
    /** Created on the first all-reduce that uses it; {@code shmUnavailable} once creation failed. */
    private SharedMemoryAllReduce shm;
    private boolean shmUnavailable;
    /** World rank of each rank of this group; null for the world itself. */
    private int[] worldRanks;

    protected AbstractCommunicator(int rank, int size, String name, Duration timeout) {
        if (size < 1 || rank < 0 || rank >= size) {
            throw new IllegalArgumentException("rank " + rank + " is not in a group of size " + size);
        }
        this.rank = rank;
        this.size = size;
        this.name = Objects.requireNonNull(name);
        this.timeout = Objects.requireNonNull(timeout);
    }

    static int internalTag(int collective, int index) {
        return (1 << 24) | (collective << 16) | (index & 0xFFFF);
    }

    /** Posts a send of floats or bytes ({@code buf} is a float[] or byte[]); tag already validated. */
    protected abstract Transfer postSend(Object buf, int offset, int length, int dest, int tag);

    /** Posts a receive of floats or bytes ({@code buf} is a float[] or byte[]); tag already validated. */
    protected abstract Transfer postRecv(Object buf, int offset, int length, int source, int tag);

    /**
     * Builds the communicator of a sub-group (called by every rank of this group from {@link #split}, so it may
     * be collective); {@code members} are ranks of this group, in new-rank order.
     */
    protected abstract AbstractCommunicator createSubgroup(int color, int key, int[] members, int newRank,
                                                          String childName);

    @Override
    public final int rank() {
        return rank;
    }

    @Override
    public final int size() {
        return size;
    }

    @Override
    public final String name() {
        return name;
    }

    @Override
    public final Duration timeout() {
        return timeout;
    }

    /** Floats per message of the ring all-reduce and the broadcast chain; tuned by {@code ./smp bench comm}. */
    public void setSegmentFloats(int segmentFloats) {
        if (segmentFloats < 1) {
            throw new IllegalArgumentException("segmentFloats must be >= 1, got " + segmentFloats);
        }
        this.segmentFloats = segmentFloats;
    }

    int segmentFloats() {
        return segmentFloats;
    }

    /** Chooses the all-reduce algorithm; every rank of the group must choose the same. */
    public void setAllReduceAlgorithm(AllReduceAlgorithm algorithm) {
        this.allReduceAlgorithm = Objects.requireNonNull(algorithm);
    }

    /**
     * Whether {@link AllReduceAlgorithm#AUTO} may use shared memory for large buffers: true for transports whose
     * ranks are processes (possibly on one host), where the network path is the bottleneck.
     */
    protected boolean sharedMemoryByDefault() {
        return false;
    }

    // ---------------------------------------------------------------- point to point

    @Override
    public CommRequest isend(float[] buf, int offset, int length, int dest, int tag) {
        checkRange(buf.length, offset, length);
        return post(true, buf, offset, length, dest, checkUserTag(tag));
    }

    @Override
    public CommRequest irecv(float[] buf, int offset, int length, int source, int tag) {
        checkRange(buf.length, offset, length);
        return post(false, buf, offset, length, source, checkUserTag(tag));
    }

    @Override
    public CommRequest isend(byte[] buf, int offset, int length, int dest, int tag) {
        checkRange(buf.length, offset, length);
        return post(true, buf, offset, length, dest, checkUserTag(tag));
    }

    @Override
    public CommRequest irecv(byte[] buf, int offset, int length, int source, int tag) {
        checkRange(buf.length, offset, length);
        return post(false, buf, offset, length, source, checkUserTag(tag));
    }

    /** Posts without the user-tag check; the collectives use it with their reserved tags. */
    CommRequest post(boolean send, Object buf, int offset, int length, int peer, int tag) {
        if (peer < 0 || peer >= size) {
            throw new IllegalArgumentException(String.format("%s: peer rank %d is not in group '%s' of size %d",
                    send ? "send" : "recv", peer, name, size));
        }
        Transfer t = send ? postSend(buf, offset, length, peer, tag) : postRecv(buf, offset, length, peer, tag);
        return new Request(t, send ? "send to" : "recv from", peer, tag);
    }

    private static int checkUserTag(int tag) {
        if (tag < 0 || tag > MAX_USER_TAG) {
            throw new IllegalArgumentException(
                    "tag " + tag + " is out of range: user tags are 0.." + MAX_USER_TAG);
        }
        return tag;
    }

    private static void checkRange(int bufLength, int offset, int length) {
        if (offset < 0 || length < 0 || offset + length > bufLength) {
            throw new IndexOutOfBoundsException(
                    "range [" + offset + ", " + (offset + length) + ") is outside a buffer of " + bufLength);
        }
    }

    private final class Request implements CommRequest {
        private final Transfer transfer;
        private final String what;
        private final int peer;
        private final int tag;
        private boolean done;

        Request(Transfer transfer, String what, int peer, int tag) {
            this.transfer = transfer;
            this.what = what;
            this.peer = peer;
            this.tag = tag;
        }

        @Override
        public boolean isDone() {
            return done || (done = transfer.poll());
        }

        @Override
        public int await() {
            return await(timeout);
        }

        @Override
        public int await(Duration limit) {
            if (!done && !transfer.awaitNanos(limit.toNanos())) {
                throw new CommTimeoutException(AbstractCommunicator.this, peer, tag, describe(what, tag), limit);
            }
            done = true;
            return transfer.count();
        }
    }

    private static String describe(String what, int tag) {
        if (tag <= MAX_USER_TAG) {
            return what;
        }
        int code = (tag >> 16) & 0xFF;
        String op = switch (code) {
            case TAG_ALLREDUCE -> "allReduce";
            case TAG_BROADCAST -> "broadcast";
            case TAG_ALLGATHER -> "allGather";
            case TAG_BARRIER -> "barrier";
            default -> "collective " + code;
        };
        return op + " (" + what + ")";
    }

    // ---------------------------------------------------------------- collectives

    @Override
    public void allReduce(float[] buf, int offset, int length, ReduceOp op) {
        checkRange(buf.length, offset, length);
        if (size > 1 && useSharedMemory(length)) {
            shm.allReduce(buf, offset, length, op);
        } else {
            RingAllReduce.run(this, buf, offset, length, op);
        }
    }

    /** Same answer on every rank: depends only on the length, the algorithm and a collective outcome. */
    private boolean useSharedMemory(int length) {
        boolean wanted = switch (allReduceAlgorithm) {
            case RING -> false;
            case SHM -> true;
            case AUTO -> sharedMemoryByDefault() && length >= AllReduceAlgorithm.AUTO_SHM_MIN_FLOATS;
        };
        if (!wanted || shmUnavailable) {
            return false;
        }
        if (shm == null) {
            shm = SharedMemoryAllReduce.create(this, length);
            shmUnavailable = shm == null;
        }
        return shm != null;
    }

    /** Releases what the collectives hold (the shared-memory mapping). */
    protected void closeCollectives() {
        if (shm != null) {
            shm.close();
            shm = null;
        }
    }

    @Override
    public void broadcast(float[] buf, int offset, int length, int root) {
        checkRange(buf.length, offset, length);
        checkRoot(root);
        chainBroadcast(buf, offset, length, root);
    }

    @Override
    public byte[] broadcast(byte[] data, int root) {
        checkRoot(root);
        byte[] len = new byte[4];
        if (rank == root) {
            ByteBuffer.wrap(len).putInt(data.length);
        }
        chainBroadcast(len, 0, 4, root);
        byte[] out = rank == root ? data : new byte[ByteBuffer.wrap(len).getInt()];
        chainBroadcast(out, 0, out.length, root);
        return out;
    }

    private void checkRoot(int root) {
        if (root < 0 || root >= size) {
            throw new IllegalArgumentException("broadcast root " + root + " is not in group '" + name
                    + "' of size " + size);
        }
    }

    /** Segmented chain: root -> root+1 -> ...; each rank forwards a segment as soon as it has it. */
    private void chainBroadcast(Object buf, int offset, int length, int root) {
        if (size == 1 || length == 0) {
            return;
        }
        int pos = (rank - root + size) % size;
        int prev = (rank - 1 + size) % size;
        int next = (rank + 1) % size;
        int seg = segmentFloats;
        int segments = (length + seg - 1) / seg;
        List<CommRequest> recvs = new ArrayList<>();
        List<CommRequest> sends = new ArrayList<>();
        if (pos > 0) {
            for (int k = 0; k < segments; k++) {
                int from = offset + k * seg;
                recvs.add(post(false, buf, from, Math.min(seg, offset + length - from), prev,
                        internalTag(TAG_BROADCAST, k)));
            }
        }
        for (int k = 0; k < segments; k++) {
            if (pos > 0) {
                recvs.get(k).await();
            }
            if (pos < size - 1) {
                int from = offset + k * seg;
                sends.add(post(true, buf, from, Math.min(seg, offset + length - from), next,
                        internalTag(TAG_BROADCAST, k)));
            }
        }
        CommRequest.awaitAll(sends);
    }

    @Override
    public byte[][] allGather(byte[] mine) {
        byte[][] all = new byte[size][];
        all[rank] = mine.clone();
        int right = (rank + 1) % size;
        int left = (rank - 1 + size) % size;
        byte[] lenOut = new byte[4];
        byte[] lenIn = new byte[4];
        for (int s = 0; s < size - 1; s++) {
            byte[] out = all[(rank - s + size) % size];
            int inIdx = (rank - s - 1 + size) % size;
            ByteBuffer.wrap(lenOut).putInt(0, out.length);
            CommRequest rl = post(false, lenIn, 0, 4, left, internalTag(TAG_ALLGATHER, 2 * s));
            CommRequest sl = post(true, lenOut, 0, 4, right, internalTag(TAG_ALLGATHER, 2 * s));
            rl.await();
            byte[] in = new byte[ByteBuffer.wrap(lenIn).getInt(0)];
            CommRequest rd = post(false, in, 0, in.length, left, internalTag(TAG_ALLGATHER, 2 * s + 1));
            CommRequest sd = post(true, out, 0, out.length, right, internalTag(TAG_ALLGATHER, 2 * s + 1));
            rd.await();
            sl.await();
            sd.await();
            all[inIdx] = in;
        }
        return all;
    }

    @Override
    public void barrier() {
        byte[] token = new byte[1];
        byte[] sink = new byte[1];
        for (int k = 0, dist = 1; dist < size; k++, dist <<= 1) {
            CommRequest r = post(false, sink, 0, 1, (rank - dist + size) % size, internalTag(TAG_BARRIER, k));
            CommRequest s = post(true, token, 0, 1, (rank + dist) % size, internalTag(TAG_BARRIER, k));
            r.await();
            s.await();
        }
    }

    @Override
    public Communicator split(int color, int key) {
        if (color < 0) {
            throw new IllegalArgumentException("split color must be >= 0, got " + color);
        }
        byte[][] all = allGather(ByteBuffer.allocate(8).putInt(color).putInt(key).array());
        int[][] entries = new int[size][];
        for (int r = 0; r < size; r++) {
            ByteBuffer b = ByteBuffer.wrap(all[r]);
            entries[r] = new int[] {b.getInt(), b.getInt(), r};
        }
        int[] members = Arrays.stream(entries)
                .filter(e -> e[0] == color)
                .sorted((a, b) -> a[1] != b[1] ? Integer.compare(a[1], b[1]) : Integer.compare(a[2], b[2]))
                .mapToInt(e -> e[2])
                .toArray();
        int newRank = 0;
        while (members[newRank] != rank) {
            newRank++;
        }
        String child = name + "/split" + (splitCount++) + ":color" + color;
        AbstractCommunicator sub = createSubgroup(color, key, members, newRank, child);
        sub.worldRanks = Arrays.stream(members).map(this::worldRank).toArray();
        return sub;
    }

    /** The world rank of rank {@code r} of this group (r itself for the world). */
    public int worldRank(int r) {
        return worldRanks == null ? r : worldRanks[r];
    }

    /** {@code rank r}, with its world rank when this is a sub-group: what error messages name. */
    public String who(int r) {
        return worldRanks == null ? "rank " + r : "rank " + r + " (world rank " + worldRank(r) + ")";
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + name + " rank " + rank + "/" + size + "]";
    }
}
