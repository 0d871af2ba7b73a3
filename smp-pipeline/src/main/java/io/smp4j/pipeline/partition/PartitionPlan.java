package io.smp4j.pipeline.partition;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Which units each stage runs: stage s holds units {@code [boundaries[s], boundaries[s+1])}. Built once (on rank 0)
 * and sent to every rank as bytes, so all ranks run the same plan even though their measurements differ.
 *
 * @param units        the units in model order, with their measured costs
 * @param boundaries   P+1 unit indices, starting at 0 and ending at the number of units
 * @param memoryWeight the weight used (NaN for a manual plan)
 * @param how          {@code auto} or {@code manual}
 * @param lent       P+1 counts, 0 at both ends: {@code lent[s] = k > 0} lends unit {@code boundaries[s] - 1} (the
 *                     last unit of stage s-1, which owns it) with stage s: the first k microbatches of every step run it
 *                     on stage s, the others on stage s-1. A boundary inside one unit, for balance finer than a unit:
 *                     stage s keeps a replica of the unit's parameters, refreshed from the owner at every step's start,
 *                     and its gradient sum over microbatches 0..k-1 continues on the owner, so that every sum runs in
 *                     the order of one process (k at most M-2) (see {@link io.smp4j.pipeline.exec.LentBoundary})
 */
public record PartitionPlan(List<UnitCost> units, int[] boundaries, double memoryWeight, String how, int[] lent) {
    public PartitionPlan {
        units = List.copyOf(units);
        boundaries = boundaries.clone();
        if (boundaries.length < 2 || boundaries[0] != 0 || boundaries[boundaries.length - 1] != units.size()) {
            throw new IllegalArgumentException("boundaries must run from 0 to " + units.size());
        }
        for (int s = 0; s + 1 < boundaries.length; s++) {
            if (boundaries[s] >= boundaries[s + 1]) {
                throw new IllegalArgumentException("stage " + s + " is empty");
            }
        }
        lent = lent == null ? new int[boundaries.length] : lent.clone();
        if (lent.length != boundaries.length || lent[0] != 0 || lent[lent.length - 1] != 0) {
            throw new IllegalArgumentException("lent microbatch counts " + Arrays.toString(lent) + " do not match "
                    + "boundaries " + Arrays.toString(boundaries) + " (one per boundary, 0 at both ends)");
        }
        for (int s = 1; s + 1 < boundaries.length; s++) {
            if (lent[s] < 0) {
                throw new IllegalArgumentException("lent microbatch count " + lent[s] + " at boundary " + s
                        + " is negative");
            }
            if (lent[s] > 0 && boundaries[s] - 1 <= boundaries[s - 1]) {
                throw new IllegalArgumentException("stage " + (s - 1) + " cannot lend unit " + (boundaries[s] - 1)
                        + " with stage " + s + ": it is the stage's only unit");
            }
        }
    }

    /** A plan without lent units. */
    public PartitionPlan(List<UnitCost> units, int[] boundaries, double memoryWeight, String how) {
        this(units, boundaries, memoryWeight, how, null);
    }

    /** This plan with {@code lent} as its lent microbatch counts (see the record's parameters). */
    public PartitionPlan withLent(int[] lent) {
        return new PartitionPlan(units, boundaries, memoryWeight, how, lent);
    }

    /** Whether any boundary shares a unit. */
    public boolean lendsUnits() {
        return Arrays.stream(lent).anyMatch(k -> k > 0);
    }

    /**
     * The microbatches of every step in which stage {@code stage} runs the unit before its first (0: none), out of
     * {@code microbatches}.
     */
    public int lentIn(int stage) {
        return lent[stage];
    }

    /** The microbatches in which stage {@code stage}'s last unit runs on the next stage instead (0: none). */
    public int lentOut(int stage) {
        return lent[stage + 1];
    }

    /**
     * As {@link #stageTimeMillis(int)} with lent units counted where they run: the fraction of the
     * {@code microbatches} in which they run on that stage.
     */
    public double stageTimeMillis(int stage, int microbatches) {
        double t = stageTimeMillis(stage);
        if (lentOut(stage) > 0) {
            t -= units.get(endUnit(stage) - 1).timeMillis() * lentOut(stage) / microbatches;
        }
        if (lentIn(stage) > 0) {
            t += units.get(firstUnit(stage) - 1).timeMillis() * lentIn(stage) / microbatches;
        }
        return t;
    }

    /** The units' names in model order: {@link io.smp4j.pipeline.model.ModelUnits#resolve} gives them back. */
    public List<String> unitNames() {
        return units.stream().map(UnitCost::name).toList();
    }

    public int stages() {
        return boundaries.length - 1;
    }

    public int firstUnit(int stage) {
        return boundaries[stage];
    }

    /** One past the last unit of {@code stage}. */
    public int endUnit(int stage) {
        return boundaries[stage + 1];
    }

    public int stageOf(int unit) {
        for (int s = 0; s < stages(); s++) {
            if (unit < boundaries[s + 1]) {
                return s;
            }
        }
        throw new IllegalArgumentException("unit " + unit + " is not in the model (" + units.size() + " units)");
    }

    public long stageParameters(int stage) {
        long n = 0;
        for (int i = firstUnit(stage); i < endUnit(stage); i++) {
            n += units.get(i).parameters();
        }
        return n;
    }

    public double stageTimeMillis(int stage) {
        double t = 0;
        for (int i = firstUnit(stage); i < endUnit(stage); i++) {
            t += units.get(i).timeMillis();
        }
        return t;
    }

    public long stageMemoryBytes(int stage) {
        long m = 0;
        for (int i = firstUnit(stage); i < endUnit(stage); i++) {
            m += units.get(i).memoryBytes();
        }
        return m;
    }

    /** The units of {@code stage}, e.g. {@code 02ParallelBlock} or {@code units 4..12 (9)}. */
    public String describeStage(int stage) {
        return endUnit(stage) - firstUnit(stage) == 1 ? "unit " + firstUnit(stage) + " " + units.get(firstUnit(stage))
                .name() : "units " + firstUnit(stage) + ".." + (endUnit(stage) - 1) + " (" + (endUnit(stage)
                - firstUnit(stage)) + ")";
    }

    /** The plan as a table: stage, units, parameters, measured time and memory, share of the total. */
    public List<String> table() {
        List<String> out = new ArrayList<>();
        double totalT = 0;
        double totalM = 0;
        for (int s = 0; s < stages(); s++) {
            totalT += stageTimeMillis(s);
            totalM += stageMemoryBytes(s);
        }
        out.add(String.format(Locale.ROOT, "partition plan (%s%s): %d units in %d stages", how,
                how.startsWith("auto") ? String.format(Locale.ROOT, ", memory_weight %.2f", memoryWeight) : "",
                units.size(), stages()));
        out.add(String.format(Locale.ROOT, "%5s  %-24s %12s %10s %6s %10s %6s", "stage", "units", "parameters",
                "time ms", "time%", "memory MB", "mem%"));
        for (int s = 0; s < stages(); s++) {
            String names = endUnit(s) - firstUnit(s) == 1 ? units.get(firstUnit(s)).name()
                    : firstUnit(s) + ".." + (endUnit(s) - 1) + " (" + (endUnit(s) - firstUnit(s)) + ")";
            out.add(String.format(Locale.ROOT, "%5d  %-24s %,12d %10.2f %5.1f%% %10.2f %5.1f%%", s, names,
                    stageParameters(s), stageTimeMillis(s), totalT > 0 ? 100 * stageTimeMillis(s) / totalT : 0,
                    stageMemoryBytes(s) / 1e6, totalM > 0 ? 100 * stageMemoryBytes(s) / totalM : 0));
        }
        for (int s = 1; s < stages(); s++) {
            if (lent[s] > 0) {
                int u = firstUnit(s) - 1;
                out.add(String.format(Locale.ROOT, "unit %d %s is lent: microbatches 0..%d of each step run it on "
                        + "stage %d (a replica), the others on stage %d", u, units.get(u).name(), lent[s] - 1, s,
                        s - 1));
            }
        }
        return out;
    }

    /** One line per unit: index, stage, profiled time and share, parameters, name (for debug logs). */
    public List<String> unitLines() {
        double total = 0;
        for (UnitCost c : units) {
            total += c.timeMillis();
        }
        List<String> out = new ArrayList<>();
        for (int s = 0; s < stages(); s++) {
            for (int u = firstUnit(s); u < endUnit(s); u++) {
                UnitCost c = units.get(u);
                out.add(String.format(Locale.ROOT, "unit %3d stage %d %8.3f ms %5.1f%% %,11d %s", u, s,
                        c.timeMillis(), total > 0 ? 100 * c.timeMillis() / total : 0, c.parameters(), c.name()));
            }
        }
        return out;
    }

    /** Text form, one unit per line, for sending the plan from rank 0 to the others. */
    public byte[] toBytes() {
        StringBuilder b = new StringBuilder();
        b.append(how).append('\t').append(memoryWeight).append('\t');
        b.append(joined(boundaries)).append('\t').append(joined(lent)).append('\n');
        for (UnitCost u : units) {
            b.append(u.name()).append('\t').append(u.timeMillis()).append('\t').append(u.parameters()).append('\t')
                    .append(u.parameterBytes()).append('\t').append(u.activationBytes()).append('\n');
        }
        return b.toString().getBytes(StandardCharsets.UTF_8);
    }

    public static PartitionPlan fromBytes(byte[] bytes) {
        String[] lines = new String(bytes, StandardCharsets.UTF_8).split("\n");
        String[] head = lines[0].split("\t");
        int[] b = ints(head[2]);
        int[] lent = head.length > 3 ? ints(head[3]) : null;
        List<UnitCost> units = new ArrayList<>();
        for (int i = 1; i < lines.length; i++) {
            String[] f = lines[i].split("\t");
            units.add(new UnitCost(f[0], Double.parseDouble(f[1]), Long.parseLong(f[2]), Long.parseLong(f[3]),
                    Long.parseLong(f[4])));
        }
        return new PartitionPlan(units, b, Double.parseDouble(head[1]), head[0], lent);
    }

    private static String joined(int[] values) {
        return String.join(",", Arrays.stream(values).mapToObj(Integer::toString).toList());
    }

    private static int[] ints(String commaSeparated) {
        return Arrays.stream(commaSeparated.split(",")).mapToInt(Integer::parseInt).toArray();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PartitionPlan p && units.equals(p.units) && Arrays.equals(boundaries, p.boundaries)
                && Arrays.equals(lent, p.lent) && Double.compare(memoryWeight, p.memoryWeight) == 0 && how.equals(p.how);
    }

    @Override
    public int hashCode() {
        return (units.hashCode() * 31 + Arrays.hashCode(boundaries)) * 31 + Arrays.hashCode(lent);
    }

    @Override
    public String toString() {
        return String.join("\n", table());
    }
}
