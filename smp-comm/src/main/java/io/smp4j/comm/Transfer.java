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
        int spins = 0;
        while (!poll()) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            spins++;
            if (spins < 64) {
                Thread.onSpinWait();
            } else if (spins < 256) {
                Thread.yield();
            } else {
                // Sleep in short naps so that on an oversubscribed machine the peer gets the core.
                java.util.concurrent.locks.LockSupport.parkNanos(Math.min(left, spins < 2048 ? 20_000L : 200_000L));
            }
            if (Thread.interrupted()) {
                Thread.currentThread().interrupt();
                throw new CommException("interrupted while waiting for a transfer");
            }
        }
        return true;
    }
}
