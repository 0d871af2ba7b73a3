package io.smp4j.pipeline.partition;

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
     * @param currentCost the most expensive stage's cost under the current boundaries (scaled costs)
     * @param newCost     the same under the new boundaries
     */
    public record Proposal(PartitionPlan plan, double currentCost, double newCost) {
        /** The fraction of the most expensive stage's cost the change saves. */
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
        if (measuredMillis.length != p) {
            throw new IllegalArgumentException(measuredMillis.length + " measured stage times for " + p + " stages");
        }
        List<UnitCost> scaled = new ArrayList<>();
        for (int s = 0; s < p; s++) {
            double profiled = plan.stageTimeMillis(s);
            double factor = profiled > 0 && measuredMillis[s] > 0 ? measuredMillis[s] / profiled : 1;
            for (int u = plan.firstUnit(s); u < plan.endUnit(s); u++) {
                UnitCost c = plan.units().get(u);
                scaled.add(new UnitCost(c.name(), c.timeMillis() * factor, c.parameters(), c.parameterBytes(),
                        c.activationBytes()));
            }
        }
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
        b.append(String.format(Locale.ROOT, " ms per step; the new plan cuts the slowest stage's cost by %.1f%%",
                100 * proposal.gain()));
        return b.toString();
    }
}
