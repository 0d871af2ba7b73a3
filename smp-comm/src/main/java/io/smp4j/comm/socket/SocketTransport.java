package io.smp4j.comm.socket;

import io.smp4j.comm.group.AllReduce;
import io.smp4j.comm.group.Transfer;
import io.smp4j.comm.group.Transport;

/**
 * A group's transport that sends to the ranks of its own host through {@link HostSockets} and to every other rank
 * through the network transport it wraps (MPJ Express). Each group has a context of its own (derived from its
 * parent's and the split's number, the same on every member because splits are collective), so that its messages
 * never match another group's receives.
 */
public final class SocketTransport implements Transport {
    private final Transport network;
    private final HostSockets sockets;
    private final long context;
    /** World rank of each rank of this group; null for the world. */
    private final int[] worldRanks;
    private int splits;

    /** The world's transport: {@code network} for the other hosts, {@code sockets} for this one. */
    public SocketTransport(Transport network, HostSockets sockets) {
        this(network, sockets, 0L, null);
    }

    private SocketTransport(Transport network, HostSockets sockets, long context, int[] worldRanks) {
        this.network = network;
        this.sockets = sockets;
        this.context = context;
        this.worldRanks = worldRanks;
    }

    private int world(int r) {
        return worldRanks == null ? r : worldRanks[r];
    }

    @Override
    public Transfer send(float[] buf, int offset, int length, int dest, int tag) {
        int w = world(dest);
        if (!sockets.local(w)) {
            return network.send(buf, offset, length, dest, tag);
        }
        sockets.send(w, context, tag, Mailbox.FLOATS, buf, offset, length);
        return Transfer.completed(length);
    }

    @Override
    public Transfer send(byte[] buf, int offset, int length, int dest, int tag) {
        int w = world(dest);
        if (!sockets.local(w)) {
            return network.send(buf, offset, length, dest, tag);
        }
        sockets.send(w, context, tag, Mailbox.BYTES, buf, offset, length);
        return Transfer.completed(length);
    }

    @Override
    public Transfer recv(float[] buf, int offset, int length, int source, int tag) {
        int w = world(source);
        return sockets.local(w) ? sockets.recv(w, context, tag, Mailbox.FLOATS, buf, offset, length)
                : network.recv(buf, offset, length, source, tag);
    }

    @Override
    public Transfer recv(byte[] buf, int offset, int length, int source, int tag) {
        int w = world(source);
        return sockets.local(w) ? sockets.recv(w, context, tag, Mailbox.BYTES, buf, offset, length)
                : network.recv(buf, offset, length, source, tag);
    }

    @Override
    public Transport subgroup(int color, int key, int[] members, int[] memberWorldRanks, int newRank, String name) {
        Transport sub = network.subgroup(color, key, members, memberWorldRanks, newRank, name);
        return new SocketTransport(sub, sockets, childContext(context, ++splits), memberWorldRanks.clone());
    }

    /** A 64-bit mix of the parent's context and the split's number (splitmix64's finaliser). */
    static long childContext(long parent, int split) {
        long z = parent * 0x9E3779B97F4A7C15L + split;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    @Override
    public boolean processes() {
        return network.processes();
    }

    @Override
    public AllReduce nativeAllReduce() {
        return network.nativeAllReduce();
    }

    @Override
    public void close() {
        if (worldRanks == null) {
            sockets.close();
        }
        network.close();
    }
}
