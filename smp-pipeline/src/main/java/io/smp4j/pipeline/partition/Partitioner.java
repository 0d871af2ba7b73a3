package io.smp4j.pipeline.partition;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Splits an ordered list of units into P contiguous, non-empty stages.
 *
 * <p>Auto: each unit's cost is {@code memoryWeight * memoryShare + (1 - memoryWeight) * timeShare} (shares of the
 * model's total, so the two are comparable), and the split minimises the cost of the most expensive stage, exactly,
 * by dynamic programming over (stages, prefix). SageMaker's {@code optimize: speed} means memory_weight 0.2,
 * {@code optimize: memory} 0.8.
 *
 * <p>Manual: a unit -> stage assignment, with {@code defaultPartition} for units not named.
 */
public final class Partitioner {
    private Partitioner() {
    }

    /** The best contiguous split of {@code units} into {@code stages} stages. */
    public static PartitionPlan auto(List<UnitCost> units, int stages, double memoryWeight) {
        checkCounts(units.size(), stages);
        if (!(memoryWeight >= 0 && memoryWeight <= 1)) {
            throw new IllegalArgumentException("memory_weight " + memoryWeight + " is not in [0, 1]");
        }
        double[] cost = combinedCosts(units, memoryWeight);
        return new PartitionPlan(units, balance(cost, stages), memoryWeight, "auto");
    }

    /**
     * As {@link #auto(List, int, double)}, but stage s may use at most {@code limits[s]} bytes of device memory
     * (e.g. its GPU's free memory): {@link #stageBytes} of the units it gets. Throws when no split fits.
     *
     * @param inflight microbatches a stage holds at once (active_microbatches)
     */
    public static PartitionPlan auto(List<UnitCost> units, int stages, double memoryWeight, long[] limits,
                                     int inflight) {
        checkCounts(units.size(), stages);
        if (limits.length != stages) {
            throw new IllegalArgumentException(limits.length + " memory limits for " + stages + " stages");
        }
        double[] cost = combinedCosts(units, memoryWeight);
        int n = units.size();
        int[] b = split(cost, stages, (k, from, to) -> stageBytes(units, from, to, inflight) <= limits[k]);
        if (b == null) {
            long need = 0;
            for (int i = 0; i < n; i++) {
                need = Math.max(need, stageBytes(units, i, i + 1, inflight));
            }
            long total = stageBytes(units, 0, n, inflight);
            throw new IllegalArgumentException(String.format(Locale.ROOT, "the model does not fit in %d "
                    + "stages within the devices' memory (stage limits %s MB): it needs %.1f MB in all (3 x parameter "
                    + "bytes for weights, gradients and optimizer state + %d microbatches of activations), its "
                    + "largest unit alone %.1f MB; use more partitions, fewer active_microbatches or smaller "
                    + "microbatches", stages, Arrays.stream(limits)
                    .mapToObj(l -> String.format(Locale.ROOT, "%.1f", l / 1e6))
                    .collect(Collectors.joining(", ", "[", "]")), total / 1e6, inflight, need / 1e6));
        }
        return new PartitionPlan(units, b, memoryWeight, "auto");
    }

    /** Device bytes units [from, to) need on one stage: 3 x parameters + {@code inflight} x activations. */
    public static long stageBytes(List<UnitCost> units, int from, int to, int inflight) {
        long b = 0;
        for (int i = from; i < to; i++) {
            b += 3 * units.get(i).parameterBytes() + (long) inflight * units.get(i).activationBytes();
        }
        return b;
    }

    /** Per-unit cost as a weighted share of the model's time and memory. */
    public static double[] combinedCosts(List<UnitCost> units, double memoryWeight) {
        double totalTime = units.stream().mapToDouble(UnitCost::timeMillis).sum();
        double totalMem = units.stream().mapToDouble(UnitCost::memoryBytes).sum();
        double[] c = new double[units.size()];
        for (int i = 0; i < c.length; i++) {
            double t = totalTime > 0 ? units.get(i).timeMillis() / totalTime : 0;
            double m = totalMem > 0 ? units.get(i).memoryBytes() / totalMem : 0;
            c[i] = memoryWeight * m + (1 - memoryWeight) * t;
        }
        return c;
    }

    /**
     * Exact min-max contiguous partition: returns boundaries b of length P+1 with stage s = units [b[s], b[s+1]).
     * Ties go to the split whose earlier stages are as large as possible, so the answer is deterministic.
     */
    public static int[] balance(double[] cost, int stages) {
        checkCounts(cost.length, stages);
        return split(cost, stages, (k, from, to) -> true);
    }

    /** Whether units [from, to) may form stage k. Must stay false once false as the stage grows to the left. */
    @FunctionalInterface
    interface Fits {
        boolean test(int stage, int from, int to);
    }

    /** The min-max dynamic program over (stages, prefix); null when no split satisfies {@code fits}. */
    private static int[] split(double[] cost, int stages, Fits fits) {
        int n = cost.length;
        // best[k][i]: the smallest possible maximum stage cost splitting the first i units into k stages.
        double[][] best = new double[stages + 1][n + 1];
        int[][] cut = new int[stages + 1][n + 1];
        for (double[] row : best) {
            Arrays.fill(row, Double.POSITIVE_INFINITY);
        }
        best[0][0] = 0;
        for (int k = 1; k <= stages; k++) {
            for (int i = k; i <= n - (stages - k); i++) {
                double c = 0;
                for (int j = i - 1; j >= k - 1; j--) {
                    c += cost[j];
                    if (!fits.test(k - 1, j, i)) {
                        break;
                    }
                    double v = Math.max(best[k - 1][j], c);
                    if (v < best[k][i]) {
                        best[k][i] = v;
                        cut[k][i] = j;
                    }
                }
            }
        }
        if (best[stages][n] == Double.POSITIVE_INFINITY) {
            return null;
        }
        int[] b = new int[stages + 1];
        b[stages] = n;
        for (int k = stages; k >= 1; k--) {
            b[k - 1] = cut[k][b[k]];
        }
        return b;
    }

    /**
     * Manual placement: {@code assignment} maps unit index to stage; units not in it go to {@code defaultPartition}.
     * Stages must follow the model's order (a pipeline only passes data forward) and none may be empty.
     */
    public static PartitionPlan manual(List<UnitCost> units, int stages, Map<Integer, Integer> assignment,
                                       int defaultPartition) {
        checkCounts(units.size(), stages);
        if (defaultPartition < 0 || defaultPartition >= stages) {
            throw new IllegalArgumentException("default_partition " + defaultPartition + " is out of range: "
                    + "allowed 0.." + (stages - 1) + " for " + stages + " partitions");
        }
        for (Map.Entry<Integer, Integer> e : assignment.entrySet()) {
            if (e.getKey() < 0 || e.getKey() >= units.size()) {
                throw new IllegalArgumentException("manual placement names unit " + e.getKey() + ", but the model "
                        + "has units 0.." + (units.size() - 1));
            }
            if (e.getValue() < 0 || e.getValue() >= stages) {
                throw new IllegalArgumentException("unit " + e.getKey() + " (" + units.get(e.getKey()).name()
                        + ") is assigned to stage " + e.getValue() + ", out of range: allowed 0.." + (stages - 1));
            }
        }
        int[] stageOf = new int[units.size()];
        for (int i = 0; i < stageOf.length; i++) {
            stageOf[i] = assignment.getOrDefault(i, defaultPartition);
            if (i > 0 && stageOf[i] < stageOf[i - 1]) {
                throw new IllegalArgumentException("unit " + i + " (" + units.get(i).name() + ") is on stage "
                        + stageOf[i] + " after unit " + (i - 1) + " on stage " + stageOf[i - 1]
                        + ": stages must follow the model's order");
            }
        }
        int[] b = new int[stages + 1];
        b[stages] = units.size();
        for (int s = 1; s < stages; s++) {
            int first = 0;
            while (first < stageOf.length && stageOf[first] < s) {
                first++;
            }
            b[s] = first;
        }
        for (int s = 0; s < stages; s++) {
            if (b[s] >= b[s + 1]) {
                throw new IllegalArgumentException("stage " + s + " has no units under the manual placement; every "
                        + "one of the " + stages + " stages needs at least one");
            }
        }
        return new PartitionPlan(units, b, Double.NaN, "manual");
    }

    private static void checkCounts(int units, int stages) {
        if (stages < 1) {
            throw new IllegalArgumentException("partitions must be >= 1, got " + stages);
        }
        if (units < stages) {
            throw new IllegalArgumentException("the model has " + units + " unit" + (units == 1 ? "" : "s")
                    + " but partitions is " + stages + ": every stage needs at least one unit; use at most "
                    + units + " partitions or a model with more top-level blocks");
        }
    }
}
