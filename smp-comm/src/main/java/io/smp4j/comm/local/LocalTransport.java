package io.smp4j.comm.local;

import io.smp4j.comm.CommException;
import io.smp4j.comm.group.Transfer;
import io.smp4j.comm.group.Transport;

/** One rank's transport in one group of a {@link LocalCluster}: sends copy into the peer's mailbox at once. */
final class LocalTransport implements Transport {
    private final LocalNetwork network;
    private final String group;
    /** The group's table of world ranks (mailboxes are per world rank), as the group was given it. */
    private final int[] worldRanks;
    private final int rank;

    LocalTransport(LocalNetwork network, String group, int[] worldRanks, int rank) {
        this.network = network;
        this.group = group;
        this.worldRanks = worldRanks;
        this.rank = rank;
    }

    private void checkAlive() {
        if (network.isDead(worldRanks[rank])) {
            throw new CommException("rank " + worldRanks[rank] + " was killed by fault injection");
        }
    }

    private Transfer deliver(Object copy, int length, int dest, int tag) {
        checkAlive();
        if (!network.isDead(worldRanks[dest])) {
            network.endpoint(group, worldRanks[dest]).deliver(new LocalNetwork.Message(rank, tag, copy, length));
        }
        return Transfer.completed(length);
    }

    private Transfer post(Object buf, int offset, int length, int source, int tag) {
        checkAlive();
        LocalNetwork.PendingRecv r = new LocalNetwork.PendingRecv(buf, offset, length, source, tag);
        // A killed peer's messages are dropped at send time, so its silence is real: the wait times out.
        network.endpoint(group, worldRanks[rank]).post(r);
        return r;
    }

    @Override
    public Transfer send(float[] buf, int offset, int length, int dest, int tag) {
        float[] copy = new float[length];
        System.arraycopy(buf, offset, copy, 0, length);
        return deliver(copy, length, dest, tag);
    }

    @Override
    public Transfer send(byte[] buf, int offset, int length, int dest, int tag) {
        byte[] copy = new byte[length];
        System.arraycopy(buf, offset, copy, 0, length);
        return deliver(copy, length, dest, tag);
    }

    @Override
    public Transfer recv(float[] buf, int offset, int length, int source, int tag) {
        return post(buf, offset, length, source, tag);
    }

    @Override
    public Transfer recv(byte[] buf, int offset, int length, int source, int tag) {
        return post(buf, offset, length, source, tag);
    }

    @Override
    public Transport subgroup(int color, int key, int[] members, int[] memberWorldRanks, int newRank, String name) {
        return new LocalTransport(network, name, memberWorldRanks, newRank);
    }

    @Override
    public boolean processes() {
        return false;
    }

    @Override
    public void close() {
        // Mailboxes belong to the network.
    }
}
