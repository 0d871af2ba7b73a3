package io.smp4j.comm;

/**
 * The transport's view of one posted send or receive: implementations supply {@link #poll()}; the waiting policy
 * (deadline, back-off, error naming the peer) lives in {@link AbstractCommunicator}.
 */
public interface Transfer {
    /** Makes progress if needed and tells whether the operation completed. Must not block for long. */
    boolean poll();

    /** Elements transferred; valid once {@link #poll()} returned true. */
    int count();

    /**
     * Blocks up to {@code nanos} for completion. The default polls with back-off; transports that can be woken
     * (the in-JVM one) override it.
     */
    default boolean awaitNanos(long nanos) {
        long deadline = System.nanoTime() + nanos;
        Backoff backoff = new Backoff();
        while (!poll()) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            backoff.pause(left);
            if (Thread.interrupted()) {
                Thread.currentThread().interrupt();
                throw new CommException("interrupted while waiting for a transfer");
            }
        }
        return true;
    }
}
