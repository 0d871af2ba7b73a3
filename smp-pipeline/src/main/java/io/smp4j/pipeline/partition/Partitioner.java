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
     * Bytes a stage holds per byte of parameters when the optimizer is not known: weights, gradients and one state
     * array (SGD with momentum).
     */
    public static final double DEFAULT_STATE_FACTOR = 3;

    /** {@link #auto(List, int, double, long[], int, double)} with {@link #DEFAULT_STATE_FACTOR}. */
    public static PartitionPlan auto(List<UnitCost> units, int stages, double memoryWeight, long[] limits,
                                     int inflight) {
        return auto(units, stages, memoryWeight, limits, inflight, DEFAULT_STATE_FACTOR);
    }

    /**
     * As {@link #auto(List, int, double)}, but stage s may use at most {@code limits[s]} bytes of memory (its GPU's
     * free memory, or a per-rank budget): {@link #stageBytes} of the units it gets. When no split fits, the error names
     * the stage that is over its limit even in the split that balances memory best, its bytes and its limit.
     *
     * @param inflight    microbatches a stage holds at once (active_microbatches)
     * @param stateFactor bytes per parameter byte for weights, gradients and optimizer state
     */
    public static PartitionPlan auto(List<UnitCost> units, int stages, double memoryWeight, long[] limits,
                                     int inflight, double stateFactor) {
        checkCounts(units.size(), stages);
        if (limits.length != stages) {
            throw new IllegalArgumentException(limits.length + " memory limits for " + stages + " stages");
        }
        double[] cost = combinedCosts(units, memoryWeight);
        int n = units.size();
        int[] b = split(cost, stages,
                (k, from, to) -> stageBytes(units, from, to, inflight, stateFactor) <= limits[k]);
        if (b == null) {
            // The split that needs the least of its worst stage, relative to that stage's limit.
            double[] bytes = new double[n];
            for (int i = 0; i < n; i++) {
                bytes[i] = stageBytes(units, i, i + 1, inflight, stateFactor);
            }
            int[] leanest = split(bytes, stages, (k, from, to) -> true);
            int worst = 0;
            double over = -1;
            for (int k = 0; k < stages; k++) {
                double r = stageBytes(units, leanest[k], leanest[k + 1], inflight, stateFactor) / (double) limits[k];
                if (r > over) {
                    over = r;
                    worst = k;
                }
            }
            long need = stageBytes(units, leanest[worst], leanest[worst + 1], inflight, stateFactor);
            throw new IllegalArgumentException(String.format(Locale.ROOT, "the model does not fit in %d "
                    + "stage%s within the memory budget: stage %d (units %d..%d of %d) needs %s (%s x %s of "
                    + "parameters for weights, gradients and optimizer state + %d microbatches of activations), its "
                    + "budget is %s (stage budgets %s; the whole model needs %s); use more partitions, fewer "
                    + "active_microbatches or smaller microbatches", stages, stages == 1 ? "" : "s", worst,
                    leanest[worst], leanest[worst + 1] - 1, n, bytes(need), trim(stateFactor),
                    bytes(paramBytes(units, leanest[worst], leanest[worst + 1])), inflight, bytes(limits[worst]),
                    Arrays.stream(limits).mapToObj(Partitioner::bytes).collect(Collectors.joining(", ", "[", "]")),
                    bytes(stageBytes(units, 0, n, inflight, stateFactor))));
        }
        return new PartitionPlan(units, b, memoryWeight, "auto");
    }

    /** Device bytes units [from, to) need on one stage: 3 x parameters + {@code inflight} x activations. */
    public static long stageBytes(List<UnitCost> units, int from, int to, int inflight) {
        return stageBytes(units, from, to, inflight, DEFAULT_STATE_FACTOR);
    }

    /** Bytes units [from, to) need on one stage: stateFactor x parameters + {@code inflight} x activations. */
    public static long stageBytes(List<UnitCost> units, int from, int to, int inflight, double stateFactor) {
        long b = 0;
        for (int i = from; i < to; i++) {
            b += (long) (stateFactor * units.get(i).parameterBytes()) + (long) inflight
                    * units.get(i).activationBytes();
        }
        return b;
    }

    /** {@code n} bytes for people: 800 B, 12.5 MB (10^6), 1.62 GB (10^9). */
    public static String bytes(long n) {
        if (n == Long.MAX_VALUE) {
            return "unlimited";
        }
        if (n < 10_000) {
            return n + " B";
        }
        return n < 10_000_000_000L ? String.format(Locale.ROOT, "%.1f MB", n / 1e6)
                : String.format(Locale.ROOT, "%.2f GB", n / 1e9);
    }

    private static String trim(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }

    private static long paramBytes(List<UnitCost> units, int from, int to) {
        long b = 0;
        for (int i = from; i < to; i++) {
            b += units.get(i).parameterBytes();
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
