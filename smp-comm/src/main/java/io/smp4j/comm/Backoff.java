package io.smp4j.comm;

import java.util.concurrent.locks.LockSupport;

/**
 * The waiting policy of every polling wait: spin briefly, then yield, then sleep in short naps, so that a waiter
 * reacts within microseconds when the peer is quick and gives the core away when it is not (ranks oversubscribe
 * the cores of a test machine). One instance per wait.
 */
public final class Backoff {
    private int rounds;

    /** Pauses once, never past {@code nanosLeft}; each call may pause a little longer than the last. */
    public void pause(long nanosLeft) {
        rounds++;
        if (rounds < 64) {
            Thread.onSpinWait();
        } else if (rounds < 256) {
            Thread.yield();
        } else {
            LockSupport.parkNanos(Math.min(nanosLeft, rounds < 2048 ? 20_000L : 200_000L));
        }
    }
}
