package io.smp4j.comm;

import java.time.Duration;

/**
 * A blocking wait ran past the communicator's timeout: the peer is dead, stopped, or far slower than allowed.
 * The message names this rank, the peer (with world ranks in a sub-group), the tag and the operation, so the log of
 * any surviving rank says which rank to look at.
 */
public class CommTimeoutException extends CommException {
    private final int rank;
    private final int peer;
    private final int tag;
    private final String operation;

    /**
     * @param group     the group that waited
     * @param peer      the rank waited for, in {@code group}
     * @param tag       the message tag, or -1 for waits without one (shared-memory barriers)
     * @param operation what was waited for, e.g. {@code recv from} or {@code allReduce (shared memory, inputs)}
     */
    public CommTimeoutException(Communicator group, int peer, int tag, String operation, Duration timeout) {
        super(String.format(
                "%s of group '%s' timed out after %.1f s in %s with peer %s%s: "
                        + "the peer is dead, stopped or too slow; raise smp.comm.timeout.s (SMP_COMM_TIMEOUT_S) "
                        + "if the peer is only slow",
                group.who(group.rank()), group.name(), timeout.toMillis() / 1000.0, operation, group.who(peer),
                tag >= 0 ? " (tag " + tag + ")" : ""));
        this.rank = group.rank();
        this.peer = peer;
        this.tag = tag;
        this.operation = operation;
    }

    /** This rank, in the group that timed out. */
    public int rank() {
        return rank;
    }

    /** The peer rank waited for, in the same group. */
    public int peer() {
        return peer;
    }

    /** The message tag waited for, or -1 for waits that have none (shared-memory barriers). */
    public int tag() {
        return tag;
    }

    public String operation() {
        return operation;
    }
}
