package io.smp4j.pipeline.partition;

import io.smp4j.pipeline.schedule.Schedule;
import io.smp4j.pipeline.schedule.StepPeriod;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Re-partitioning from measured stage times (the plan's profile is a model of training, and a model can be wrong:
 * per-unit times measured in isolation miss the loss, the stage links and how units share caches). Each stage's
 * profiled unit times are scaled by measured / profiled for that stage; the best plan for the scaled costs is made as
 * the first was ({@link Partitioner}, the configured memory weight, the same limits); it is proposed when it cuts the most
 * expensive stage's cost by more than {@code threshold}. Pure: every rank computes the same proposal from the same
 * gathered times.
 */
public final class Repartition {
    private Repartition() {
    }

    /**
     * A proposed change.
     *
     * @param plan        the new plan (units and names unchanged, times scaled)
     * @param currentCost under the current boundaries (scaled costs): the most expensive stage's cost
     *                    ({@link #propose}) or the estimated step time ({@link #byPeriod})
     * @param newCost     the same under the new boundaries
     * @param what        what the costs are, for the log
     */
    public record Proposal(PartitionPlan plan, double currentCost, double newCost, String what) {
        public Proposal(PartitionPlan plan, double currentCost, double newCost) {
            this(plan, currentCost, newCost, "the slowest stage's cost");
        }

        /** The fraction of the cost the change saves. */
        public double gain() {
            return currentCost <= 0 ? 0 : 1 - newCost / currentCost;
        }
    }

    /**
     * @param measuredMillis per stage, its measured forward + backward time per step (any unit: only ratios count)
     * @param limits         per stage device memory limits as the plan had them, or null
     * @param memoryWeight   the weight of memory against time (as in {@link Partitioner#auto})
     * @return the better plan, or null when the current one is within {@code threshold} of it
     */
    public static Proposal propose(PartitionPlan plan, double[] measuredMillis, double threshold, long[] limits,
                                   int inflight, double memoryWeight) {
        int p = plan.stages();
        List<UnitCost> scaled = scaled(plan, measuredMillis, 0);
        double weight = memoryWeight;
        PartitionPlan best;
        try {
            best = limits == null ? Partitioner.auto(scaled, p, weight)
                    : Partitioner.auto(scaled, p, weight, limits, inflight);
        } catch (IllegalArgumentException e) {
            return null; // no plan fits the memory limits: keep the current one
        }
        double[] cost = Partitioner.combinedCosts(scaled, weight);
        double current = maxStage(cost, plan.boundaries());
        double next = maxStage(cost, best.boundaries());
        if (Arrays.equals(best.boundaries(), plan.boundaries()) || next >= current * (1 - threshold)) {
            return null;
        }
        return new Proposal(new PartitionPlan(scaled, best.boundaries(), weight, "auto, re-partitioned"), current,
                next);
    }

    /**
     * What a stage measured per step.
     *
     * @param total   per stage, forward + backward time per step
     * @param forward per stage, the forward part of it
     * @param update  per stage, the optimizer update after the step
     */
    public record Measured(double[] total, double[] forward, double[] update) {
    }

    /** Units moved at most this far from the min-max plan's boundaries, per boundary, by {@link #byPeriod}. */
    static final int REACH = 4;

    /**
     * As {@link #propose} for time alone (memory_weight 0, one chunk per rank), but plans are compared by the step
     * time {@link StepPeriod} estimates for them from the measured forward, backward and update times, not by their
     * slowest stage: starting from the min-max plan of the scaled costs, each boundary moves by up to {@link #REACH}
     * units while that shortens the estimated step. A unit keeps its stage's measured forward share; updates cost the
     * measured time per parameter.
     *
     * @param schedule  one step's schedule (one chunk per rank)
     * @param runAhead  active_microbatches when the stages run ahead, else 0
     * @return the plan with the shortest estimated step, or null when the current one is within {@code threshold}
     */
    public static Proposal byPeriod(PartitionPlan plan, Measured measured, Schedule schedule, int runAhead,
                                    double threshold, long[] limits, int inflight) {
        return byPeriod(plan, measured, schedule, runAhead, threshold, limits, inflight, null);
    }

    /**
     * As {@link #byPeriod(PartitionPlan, Measured, Schedule, int, double, long[], int)}, then, where
     * {@code shareable} allows (per unit; null: nowhere) and no memory limits apply, each boundary may move inside one
     * unit ({@link PartitionPlan#lent}): a unit up to {@link #REACH} units from the boundary's best position on
     * whole units ends the stage before it and runs on the next stage for the first k microbatches (k = 1..M-2),
     * estimated with the unit's time shared in proportion, when that shortens the estimated step.
     */
    public static Proposal byPeriod(PartitionPlan plan, Measured measured, Schedule schedule, int runAhead,
                                    double threshold, long[] limits, int inflight, boolean[] shareable) {
        int p = plan.stages();
        int m = schedule.microbatches();
        List<UnitCost> scaled = scaled(plan, measured.total(), m);
        double[] forwardShare = new double[scaled.size()];
        double updateMillis = 0;
        long parameters = 0;
        for (int s = 0; s < p; s++) {
            double share = measured.total()[s] > 0 ? measured.forward()[s] / measured.total()[s] : 0.5;
            Arrays.fill(forwardShare, plan.firstUnit(s), plan.endUnit(s), share);
            updateMillis += measured.update()[s];
            parameters += plan.stageParameters(s);
        }
        double perParameter = parameters > 0 ? updateMillis / parameters : 0;
        PartitionPlan start;
        try {
            start = limits == null ? Partitioner.auto(scaled, p, 0) : Partitioner.auto(scaled, p, 0, limits, inflight);
        } catch (IllegalArgumentException e) {
            return null;
        }
        Period period = (b, k) -> StepPeriod.of(schedule, stageSums(scaled, forwardShare, b, k, true, m),
                stageSums(scaled, forwardShare, b, k, false, m), updates(scaled, b, perParameter), runAhead);
        int[] none = new int[p + 1];
        int[] best = start.boundaries().clone();
        double bestPeriod = period.of(best, none);
        for (boolean better = true; better; ) {
            better = false;
            int[] origin = best.clone();
            for (int k = 1; k < p; k++) {
                for (int at = origin[k] - REACH; at <= origin[k] + REACH; at++) {
                    int[] b = best.clone();
                    b[k] = at;
                    if (at <= b[k - 1] || at >= b[k + 1] || !fits(scaled, b, limits, inflight)) {
                        continue;
                    }
                    double t = period.of(b, none);
                    if (t < bestPeriod - 1e-9) {
                        best = b;
                        bestPeriod = t;
                        better = true;
                    }
                }
            }
        }
        int[] bestLent = none.clone();
        if (shareable != null && limits == null) {
            int[] origin = best.clone();
            for (int k = 1; k < p; k++) {
                for (int at = origin[k] - REACH; at <= origin[k] + REACH; at++) {
                    int u = at - 1;
                    // The owner keeps another unit; the next stage keeps one of its own.
                    if (u <= best[k - 1] || at >= best[k + 1] || !shareable[u]) {
                        continue;
                    }
                    for (int count = 1; count <= m - 2; count++) {
                        int[] b = best.clone();
                        int[] sh = bestLent.clone();
                        b[k] = at;
                        sh[k] = count;
                        double t = period.of(b, sh);
                        if (t < bestPeriod - 1e-9) {
                            best = b;
                            bestLent = sh;
                            bestPeriod = t;
                        }
                    }
                }
            }
        }
        double current = period.of(plan.boundaries(), plan.lent());
        if ((Arrays.equals(best, plan.boundaries()) && Arrays.equals(bestLent, plan.lent()))
                || bestPeriod >= current * (1 - threshold)) {
            return null;
        }
        return new Proposal(new PartitionPlan(scaled, best, 0, "auto, re-partitioned", bestLent), current,
                bestPeriod, "the estimated step time");
    }

    @FunctionalInterface
    private interface Period {
        double of(int[] boundaries, int[] lent);
    }

    private static boolean fits(List<UnitCost> units, int[] b, long[] limits, int inflight) {
        for (int s = 0; limits != null && s + 1 < b.length; s++) {
            if (Partitioner.stageBytes(units, b[s], b[s + 1], inflight) > limits[s]) {
                return false;
            }
        }
        return true;
    }

    /**
     * Per stage, one microbatch's forward (or backward) time under boundaries {@code b}, a unit shared for k of the
     * microbatches counted on the next stage for k / M of its time (the mean over the step's microbatches).
     */
    private static double[] stageSums(List<UnitCost> units, double[] forwardShare, int[] b, int[] lent,
                                      boolean forward, int microbatches) {
        double[] out = new double[b.length - 1];
        for (int s = 0; s < out.length; s++) {
            for (int u = b[s]; u < b[s + 1]; u++) {
                double share = forward ? forwardShare[u] : 1 - forwardShare[u];
                out[s] += units.get(u).timeMillis() * share / microbatches;
            }
        }
        for (int s = 1; s < out.length; s++) {
            if (lent[s] > 0) {
                int u = b[s] - 1;
                double share = forward ? forwardShare[u] : 1 - forwardShare[u];
                double moved = units.get(u).timeMillis() * share / microbatches * lent[s] / microbatches;
                out[s - 1] -= moved;
                out[s] += moved;
            }
        }
        return out;
    }

    private static double[] updates(List<UnitCost> units, int[] b, double perParameter) {
        double[] out = new double[b.length - 1];
        for (int s = 0; s < out.length; s++) {
            for (int u = b[s]; u < b[s + 1]; u++) {
                out[s] += units.get(u).parameters() * perParameter;
            }
        }
        return out;
    }

    /**
     * Each stage's profiled unit times scaled by measured / profiled for that stage (a lent unit counted where it
     * ran, out of {@code microbatches}, or 0: on its owner, as the min-max path, which never shares, sees it; it takes
     * its owner's factor).
     */
    private static List<UnitCost> scaled(PartitionPlan plan, double[] measuredMillis, int microbatches) {
        int p = plan.stages();
        if (measuredMillis.length != p) {
            throw new IllegalArgumentException(measuredMillis.length + " measured stage times for " + p + " stages");
        }
        List<UnitCost> scaled = new ArrayList<>();
        for (int s = 0; s < p; s++) {
            double profiled = microbatches > 0 ? plan.stageTimeMillis(s, microbatches) : plan.stageTimeMillis(s);
            double factor = profiled > 0 && measuredMillis[s] > 0 ? measuredMillis[s] / profiled : 1;
            for (int u = plan.firstUnit(s); u < plan.endUnit(s); u++) {
                UnitCost c = plan.units().get(u);
                scaled.add(new UnitCost(c.name(), c.timeMillis() * factor, c.parameters(), c.parameterBytes(),
                        c.activationBytes()));
            }
        }
        return scaled;
    }

    static double maxStage(double[] cost, int[] boundaries) {
        double worst = 0;
        for (int s = 0; s + 1 < boundaries.length; s++) {
            double c = 0;
            for (int u = boundaries[s]; u < boundaries[s + 1]; u++) {
                c += cost[u];
            }
            worst = Math.max(worst, c);
        }
        return worst;
    }

    /** One line for the log: the measured times and what the change should save. */
    public static String describe(double[] measuredMillis, Proposal proposal) {
        StringBuilder b = new StringBuilder("measured stage times");
        for (double m : measuredMillis) {
            b.append(String.format(Locale.ROOT, " %.1f", m));
        }
        b.append(String.format(Locale.ROOT, " ms per step; the new plan cuts %s by %.1f%%", proposal.what(),
                100 * proposal.gain()));
        return b.toString();
    }
}
