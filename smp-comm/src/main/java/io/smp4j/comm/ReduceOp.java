package io.smp4j.comm;

/** Reduction applied by {@link Communicator#allReduce}. */
public enum ReduceOp {
    /** Element-wise sum over the ranks of the group. */
    SUM,
    /** Element-wise sum divided by the group size (gradient averaging). */
    AVERAGE
}
