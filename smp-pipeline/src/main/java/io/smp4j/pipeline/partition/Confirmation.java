package io.smp4j.pipeline.partition;

/**
 * When re-partitioning may act: a plan changes only when two checks in a row find a better plan and the same stage
 * is the slowest in both. Stage times measured over a few steps can be off by 20% or more on shared cores (a rank at
 * half speed for a few seconds); one window that says so is not enough, two in a row that agree rarely mislead.
 */
public final class Confirmation {
    /** The slowest stage of the last check that found a better plan, or -1. */
    private int pending = -1;

    /**
     * One check's outcome.
     *
     * @param better       whether the check found a plan better by more than the threshold
     * @param stageMillis  the measured time per stage
     * @return whether the plan should change now (the check before found a better plan with the same slowest stage)
     */
    public boolean confirms(boolean better, double[] stageMillis) {
        int slowest = slowest(stageMillis);
        boolean now = better && slowest == pending;
        pending = better && !now ? slowest : -1;
        return now;
    }

    /** Whether the last check found a better plan that the next one may confirm. */
    public boolean pending() {
        return pending >= 0;
    }

    static int slowest(double[] stageMillis) {
        int s = 0;
        for (int i = 1; i < stageMillis.length; i++) {
            s = stageMillis[i] > stageMillis[s] ? i : s;
        }
        return s;
    }
}
