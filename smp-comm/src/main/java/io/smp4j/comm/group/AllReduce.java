package io.smp4j.comm.group;

import io.smp4j.comm.ReduceOp;

/** One all-reduce algorithm over a group: every rank calls it with the same length; afterwards all hold equal bits. */
public interface AllReduce extends AutoCloseable {
    void allReduce(float[] buf, int offset, int length, ReduceOp op);

    /** Releases what the algorithm holds (a shared-memory mapping). */
    @Override
    default void close() {
    }
}
