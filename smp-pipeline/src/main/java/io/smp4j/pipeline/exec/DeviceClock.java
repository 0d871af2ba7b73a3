package io.smp4j.pipeline.exec;

/**
 * Where the executor's observer reads when an action started and ended. A GPU runs behind the host (a kernel launch
 * returns before the kernel runs): there, marks go into the device's queue with the work and are read at the step's
 * end, so that observing (the timeline, re-partitioning's clock) does not make the host wait for the device after every
 * action and lose the overlap of launches with kernels. On the host, or where marks cannot be queued, a mark is the
 * host's clock read after waiting for the device ({@link #synchronizing}), at once.
 */
public interface DeviceClock {
    /** Marks this point of the device's queue of work; returns its index among the marks since the last resolve. */
    int mark();

    /**
     * The host time ({@link System#nanoTime} scale) at which the device passed each mark since the last call, in
     * order (waiting until it passed the last); starts again from none.
     */
    long[] resolve();

    /** Drops the marks since the last resolve without waiting (a failed step). */
    void forget();

    /** Whether a mark's time is known as soon as it is made (then observers are told at once, not at the step's end). */
    boolean immediate();

    /** Marks read the host's clock after {@code synchronize} (waits for the device's queued work; a no-op on the CPU). */
    static DeviceClock synchronizing(Runnable synchronize) {
        return new DeviceClock() {
            private long[] times = new long[16];
            private int n;

            @Override
            public int mark() {
                synchronize.run();
                if (n == times.length) {
                    times = java.util.Arrays.copyOf(times, 2 * n);
                }
                times[n] = System.nanoTime();
                return n++;
            }

            @Override
            public long[] resolve() {
                long[] t = java.util.Arrays.copyOf(times, n);
                n = 0;
                return t;
            }

            @Override
            public void forget() {
                n = 0;
            }

            @Override
            public boolean immediate() {
                return true;
            }
        };
    }
}
