package io.smp4j.comm.group;

/**
 * What moves a group's messages: typed point-to-point sends and receives, and sub-groups. Three implementations:
 * MPJ Express niodev ({@code mpj.MpjTransport}, separate processes, any hosts), smp4j's Unix-domain sockets between
 * the ranks of one host wrapped around it ({@code socket.SocketTransport}), and an in-JVM network
 * ({@code local.LocalTransport}, ranks as threads). Everything above (checks, deadlines, tags, collectives) is the {@link Group}'s, so all behave
 * alike.
 */
public interface Transport {
    Transfer send(float[] buf, int offset, int length, int dest, int tag);

    Transfer send(byte[] buf, int offset, int length, int dest, int tag);

    Transfer recv(float[] buf, int offset, int length, int source, int tag);

    Transfer recv(byte[] buf, int offset, int length, int source, int tag);

    /**
     * Collective over this transport's group: the transport of the sub-group {@code members} (ranks of this group, in
     * new-rank order; {@code memberWorldRanks} their world ranks), in which this rank is {@code newRank}. The peers
     * agreed on the members already (an all-gather of the group): a transport may use that or its own split.
     */
    Transport subgroup(int color, int key, int[] members, int[] memberWorldRanks, int newRank, String name);

    /** True when ranks are processes (one host or many), where shared memory can beat the network path. */
    boolean processes();

    /** The transport's own all-reduce, or null. */
    default AllReduce nativeAllReduce() {
        return null;
    }

    /** Releases the transport (closing the world transport ends the job's communication). */
    void close();
}
