package io.smp4j.comm.group;

import io.smp4j.comm.CommException;
import io.smp4j.comm.CommOptions;
import io.smp4j.comm.CommRequest;
import io.smp4j.comm.CommTimeoutException;
import io.smp4j.comm.Communicator;
import io.smp4j.comm.ReduceOp;
import java.time.Duration;
import java.util.Objects;

/**
 * A {@link Communicator} over a {@link Transport}: argument checks, the deadline of every wait (and the error naming
 * the peer), and the collectives, each in a file of its own ({@link RingAllReduce}, {@link SharedMemoryAllReduce},
 * {@link ChainBroadcast}, {@link RingAllGather}, {@link DisseminationBarrier}, {@link Split}); the all-reduce
 * algorithm is chosen once by {@link AllReduces} from the options. Both transports get the same behaviour from here.
 */
public final class Group implements CollectiveGroup {
    private final int rank;
    private final int size;
    private final String name;
    private final CommOptions options;
    private final Transport transport;
    /** World rank of each rank of this group; null for the world itself. */
    private final int[] worldRanks;
    private AllReduce allReduce;
    private int splits;

    /**
     * @param worldRanks the world rank of each rank of this group, or null when this is the world
     */
    public Group(int rank, int size, String name, CommOptions options, Transport transport, int[] worldRanks) {
        if (size < 1 || rank < 0 || rank >= size) {
            throw new IllegalArgumentException("rank " + rank + " is not in a group of size " + size);
        }
        if (worldRanks != null && worldRanks.length != size) {
            throw new IllegalArgumentException(worldRanks.length + " world ranks for a group of " + size);
        }
        this.rank = rank;
        this.size = size;
        this.name = Objects.requireNonNull(name);
        this.options = Objects.requireNonNull(options);
        this.transport = Objects.requireNonNull(transport);
        this.worldRanks = worldRanks;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public Duration timeout() {
        return options.timeout();
    }

    @Override
    public CommOptions options() {
        return options;
    }

    @Override
    public int worldRank(int r) {
        return worldRanks == null ? r : worldRanks[r];
    }

    @Override
    public String who(int r) {
        return worldRanks == null ? "rank " + r : "rank " + r + " (world rank " + worldRanks[r] + ")";
    }

    // ------------------------------------------------------------------------------------------ point to point

    @Override
    public CommRequest isend(float[] buf, int offset, int length, int dest, int tag) {
        checkRange(buf.length, offset, length);
        return sendReserved(buf, offset, length, dest, checkUserTag(tag));
    }

    @Override
    public CommRequest irecv(float[] buf, int offset, int length, int source, int tag) {
        checkRange(buf.length, offset, length);
        return recvReserved(buf, offset, length, source, checkUserTag(tag));
    }

    @Override
    public CommRequest isend(byte[] buf, int offset, int length, int dest, int tag) {
        checkRange(buf.length, offset, length);
        return sendReserved(buf, offset, length, dest, checkUserTag(tag));
    }

    @Override
    public CommRequest irecv(byte[] buf, int offset, int length, int source, int tag) {
        checkRange(buf.length, offset, length);
        return recvReserved(buf, offset, length, source, checkUserTag(tag));
    }

    @Override
    public CommRequest sendReserved(float[] buf, int offset, int length, int dest, int tag) {
        int d = peer("send", dest);
        return new Request(posted(() -> transport.send(buf, offset, length, d, tag), dest, tag), "send to", dest,
                tag);
    }

    @Override
    public CommRequest sendReserved(byte[] buf, int offset, int length, int dest, int tag) {
        int d = peer("send", dest);
        return new Request(posted(() -> transport.send(buf, offset, length, d, tag), dest, tag), "send to", dest,
                tag);
    }

    /** Posts a send; a transport that fails it at once (the peer is gone) gets the operation and peer named. */
    private Transfer posted(java.util.function.Supplier<Transfer> send, int dest, int tag) {
        try {
            return send.get();
        } catch (CommTimeoutException e) {
            throw e;
        } catch (CommException e) {
            throw failed(e, "send to", dest, tag);
        }
    }

    private CommException failed(CommException e, String what, int peer, int tag) {
        return new CommException(who(rank) + " of group '" + name + "' failed in " + Tags.describe(what, tag)
                + " with peer " + who(peer) + ": " + e.getMessage(), e);
    }

    @Override
    public CommRequest recvReserved(float[] buf, int offset, int length, int source, int tag) {
        return new Request(transport.recv(buf, offset, length, peer("recv", source), tag), "recv from", source, tag);
    }

    @Override
    public CommRequest recvReserved(byte[] buf, int offset, int length, int source, int tag) {
        return new Request(transport.recv(buf, offset, length, peer("recv", source), tag), "recv from", source, tag);
    }

    private int peer(String what, int peer) {
        if (peer < 0 || peer >= size) {
            throw new IllegalArgumentException(String.format("%s: peer rank %d is not in group '%s' of size %d",
                    what, peer, name, size));
        }
        return peer;
    }

    private static int checkUserTag(int tag) {
        if (tag < 0 || tag > MAX_USER_TAG) {
            throw new IllegalArgumentException("tag " + tag + " is out of range: user tags are 0.." + MAX_USER_TAG);
        }
        return tag;
    }

    static void checkRange(int bufLength, int offset, int length) {
        if (offset < 0 || length < 0 || offset + length > bufLength) {
            throw new IndexOutOfBoundsException(
                    "range [" + offset + ", " + (offset + length) + ") is outside a buffer of " + bufLength);
        }
    }

    /** A posted transfer with this group's deadline and error naming. */
    private final class Request implements CommRequest {
        private final Transfer transfer;
        private final String what;
        private final int peer;
        private final int tag;

        Request(Transfer transfer, String what, int peer, int tag) {
            this.transfer = transfer;
            this.what = what;
            this.peer = peer;
            this.tag = tag;
        }

        @Override
        public boolean isDone() {
            return transfer.isDone();
        }

        @Override
        public int await() {
            return await(options.timeout());
        }

        @Override
        public int await(Duration limit) {
            boolean done;
            try {
                done = transfer.await(limit.toNanos());
            } catch (CommTimeoutException e) {
                throw e;
            } catch (CommException e) {
                // The transport knows the peer is gone; say where this rank was waiting for it.
                throw failed(e, what, peer, tag);
            }
            if (!done) {
                throw new CommTimeoutException(Group.this, peer, tag, Tags.describe(what, tag), limit);
            }
            return transfer.count();
        }
    }

    // ------------------------------------------------------------------------------------------ collectives

    @Override
    public void allReduce(float[] buf, int offset, int length, ReduceOp op) {
        checkRange(buf.length, offset, length);
        if (size == 1 || length == 0) {
            return;
        }
        if (allReduce == null) {
            allReduce = AllReduces.create(this, transport);
        }
        allReduce.allReduce(buf, offset, length, op);
    }

    @Override
    public void broadcast(float[] buf, int offset, int length, int root) {
        checkRange(buf.length, offset, length);
        ChainBroadcast.broadcast(this, buf, offset, length, checkRoot(root));
    }

    @Override
    public byte[] broadcast(byte[] data, int root) {
        return ChainBroadcast.broadcast(this, data, checkRoot(root));
    }

    private int checkRoot(int root) {
        if (root < 0 || root >= size) {
            throw new IllegalArgumentException("broadcast root " + root + " is not in group '" + name
                    + "' of size " + size);
        }
        return root;
    }

    @Override
    public byte[][] allGather(byte[] mine) {
        return RingAllGather.allGather(this, mine);
    }

    @Override
    public void barrier() {
        DisseminationBarrier.barrier(this);
    }

    @Override
    public Communicator split(int color, int key) {
        return split(color, key, options);
    }

    @Override
    public Communicator split(int color, int key, CommOptions childOptions) {
        Split s = Split.of(this, color, key);
        int[] world = new int[s.members().length];
        for (int i = 0; i < world.length; i++) {
            world[i] = worldRank(s.members()[i]);
        }
        String child = name + "/split" + (splits++) + ":color" + color;
        Transport t = transport.subgroup(color, key, s.members(), world, s.newRank(), child);
        return new Group(s.newRank(), world.length, child, childOptions, t, world);
    }

    /** Releases the collectives' resources and the transport (for the world: the job's communication). */
    @Override
    public void close() {
        if (allReduce != null) {
            allReduce.close();
            allReduce = null;
        }
        transport.close();
    }

    @Override
    public String toString() {
        return "Group[" + name + " rank " + rank + "/" + size + "]";
    }
}
