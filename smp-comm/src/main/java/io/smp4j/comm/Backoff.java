package io.smp4j.comm;

import java.util.concurrent.locks.LockSupport;

/**
 * The waiting policy of every polling wait: spin briefly, then yield, then sleep in short naps, so that a waiter
 * reacts within microseconds when the peer is quick and gives the core away when it is not (ranks oversubscribe
 * the cores of a test machine). One instance per wait.
 *
 * <p>A thread whose waits run behind other work (the communication thread of an all-reduce overlapped with backward,
 * see {@link #runPatiently}) waits patiently instead: after the spins its naps double from 50 us to 1 ms, so that
 * a long wait for a peer wakes it a few hundred times a second, not thousands, and leaves the core to the compute it
 * hides behind.
 */
public final class Backoff {
    private static final ThreadLocal<Boolean> PATIENT = ThreadLocal.withInitial(() -> false);
    private final boolean patient = PATIENT.get();
    private int rounds;
    private long nap = 50_000L;

    /** Runs {@code body} with this thread's waits patient (for a background thread: its latency is hidden). */
    public static void runPatiently(Runnable body) {
        boolean before = PATIENT.get();
        PATIENT.set(true);
        try {
            body.run();
        } finally {
            PATIENT.set(before);
        }
    }

    /** Pauses once, never past {@code nanosLeft}; each call may pause a little longer than the last. */
    public void pause(long nanosLeft) {
        rounds++;
        if (rounds < 64) {
            Thread.onSpinWait();
        } else if (patient) {
            LockSupport.parkNanos(Math.min(nanosLeft, nap));
            nap = Math.min(2 * nap, 1_000_000L);
        } else if (rounds < 256) {
            Thread.yield();
        } else {
            LockSupport.parkNanos(Math.min(nanosLeft, rounds < 2048 ? 20_000L : 200_000L));
        }
    }
}
