package io.smp4j.comm;

import java.time.Duration;

/**
 * Moves buffers between the ranks of a group: point-to-point with tags, and collectives.
 *
 * <p>One implementation, {@code group.Group}, over three transports that pass one contract: smp4j's sockets and MPJ
 * Express niodev (separate JVMs, one machine or many) and an in-JVM network (ranks as threads of one JVM; fast,
 * deterministic, with fault injection; {@code local.LocalCluster}). Every blocking call waits at most {@link #timeout()} for a peer and then throws
 * {@link CommTimeoutException} naming this rank, the peer, the tag and the operation.
 *
 * <p>Collectives must be called by every rank of the group, in the same order. Messages between one pair of
 * ranks with the same tag are received in the order they were sent. User tags lie in
 * {@code [0, MAX_USER_TAG]}; larger tags are reserved for the collectives.
 *
 * <p>How a communicator behaves (timeout, all-reduce algorithm, segment size) is fixed by the {@link CommOptions} it
 * was made with; sub-groups inherit them or are given their own at {@link #split(int, int, CommOptions)}.
 *
 * <pre>{@code
 * Communicator world = Bootstrap.init();          // launcher, mpirun, or a world of one
 * float[] grads = ...;
 * world.allReduce(grads, ReduceOp.AVERAGE);       // same values on every rank afterwards
 * Communicator dp = world.split(stageOf(world.rank()), world.rank());
 * }</pre>
 */
public interface Communicator extends AutoCloseable {
    /** Largest tag a caller may use; higher tags belong to the collectives. */
    int MAX_USER_TAG = (1 << 24) - 1;

    /** This process's rank in the group, {@code 0 <= rank < size}. */
    int rank();

    /** Number of ranks in the group. */
    int size();

    /** Name of the group for logs and errors, e.g. {@code world} or {@code world/split1:color0}. */
    String name();

    /** The longest any blocking call waits for a peer. */
    Duration timeout();

    /** The options this group was made with. */
    CommOptions options();

    /** The world rank of rank {@code r} of this group ({@code r} itself in the world). */
    int worldRank(int r);

    /** {@code rank r}, with its world rank in a sub-group ({@code rank 1 (world rank 3)}): what errors name. */
    String who(int r);

    CommRequest isend(float[] buf, int offset, int length, int dest, int tag);

    /** Receives up to {@code length} floats; {@link CommRequest#await()} returns how many arrived. */
    CommRequest irecv(float[] buf, int offset, int length, int source, int tag);

    CommRequest isend(byte[] buf, int offset, int length, int dest, int tag);

    CommRequest irecv(byte[] buf, int offset, int length, int source, int tag);

    default void send(float[] buf, int offset, int length, int dest, int tag) {
        isend(buf, offset, length, dest, tag).await();
    }

    default int recv(float[] buf, int offset, int length, int source, int tag) {
        return irecv(buf, offset, length, source, tag).await();
    }

    default void send(byte[] buf, int offset, int length, int dest, int tag) {
        isend(buf, offset, length, dest, tag).await();
    }

    default int recv(byte[] buf, int offset, int length, int source, int tag) {
        return irecv(buf, offset, length, source, tag).await();
    }

    /** In-place all-reduce of {@code buf[offset, offset+length)}; afterwards every rank holds identical bits. */
    void allReduce(float[] buf, int offset, int length, ReduceOp op);

    default void allReduce(float[] buf, ReduceOp op) {
        allReduce(buf, 0, buf.length, op);
    }

    /** Copies {@code buf[offset, offset+length)} of rank {@code root} into the same range on every rank. */
    void broadcast(float[] buf, int offset, int length, int root);

    /** Returns root's {@code data} on every rank (others pass anything, e.g. null). */
    byte[] broadcast(byte[] data, int root);

    /** Returns every rank's bytes, indexed by rank, on every rank. */
    byte[][] allGather(byte[] mine);

    /** Returns when every rank of the group has entered the barrier. */
    void barrier();

    /**
     * Collective: splits this group into sub-groups of the ranks that passed the same {@code color}, ranked by
     * ({@code key}, rank in this group), as MPI_Comm_split.
     */
    Communicator split(int color, int key);

    /** As {@link #split(int, int)}, the sub-group with {@code options} instead of this group's. */
    Communicator split(int color, int key, CommOptions options);

    /** Releases this group's resources; closing the world communicator shuts the transport down. */
    @Override
    void close();
}
