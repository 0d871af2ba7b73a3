package io.smp4j.core.stage;

import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import io.smp4j.pipeline.exec.LentBoundary;
import io.smp4j.pipeline.model.ModelUnits;
import io.smp4j.pipeline.model.Parameters;
import io.smp4j.pipeline.partition.PartitionPlan;
import java.util.List;

/**
 * Lent units ({@link PartitionPlan#lent}): a stage boundary inside one unit. Which units may be lent, the checks
 * of a plan that shares them, what each rank keeps and runs.
 */
public final class LentUnits {
    private LentUnits() {
    }

    /**
     * Which units may be lent across a boundary ({@link PartitionPlan#lent}): those whose parameters all train. A
     * unit with state that forwards change (batch-norm running statistics) cannot: its replica's state would drift
     * from the owner's.
     */
    public static boolean[] shareable(List<ModelUnits.Unit> units) {
        boolean[] out = new boolean[units.size()];
        for (int u = 0; u < out.length; u++) {
            out[u] = Parameters.of(units.get(u).block()).stream().allMatch(Parameter::requiresGradient);
        }
        return out;
    }

    /** A plan's lent units, checked against this job before any work: clear errors for what cannot run. */
    public static void check(PartitionPlan plan, List<ModelUnits.Unit> units, StageContext ctx) {
        if (!plan.lendsUnits()) {
            return;
        }
        boolean[] ok = shareable(units);
        int m = ctx.settings().microbatches();
        for (int s = 1; s < plan.stages(); s++) {
            int k = plan.lentIn(s);
            int u = plan.firstUnit(s) - 1;
            if (k == 0) {
                continue;
            }
            if (!ok[u]) {
                throw new IllegalArgumentException("unit " + u + " (" + units.get(u).name() + ") cannot be lent: "
                        + "it has parameters that do not train (running statistics), which a replica would change "
                        + "apart from its owner");
            }
            if (ctx.settings().virtualStages() != 1) {
                throw new IllegalArgumentException("lent units need virtual_stages 1, got "
                        + ctx.settings().virtualStages());
            }
            if (m < 3) {
                throw new IllegalArgumentException("unit " + u + " is lent, which needs microbatches >= 3 (its "
                        + "owner runs it for at least the last two), got " + m);
            }
            if (k > m - 2) {
                throw new IllegalArgumentException("unit " + u + " lent for " + k + " microbatches of " + m
                        + ": allowed 1.." + (m - 2) + " (its owner runs it for at least the last two)");
            }
        }
    }

    /** Rank {@code rank}'s part in the plan's lent units (one chunk per rank), or null when it has none. */
    static LentBoundary boundary(PartitionPlan plan, List<ModelUnits.Unit> units, Block stage, int rank) {
        int in = plan.lentIn(rank);
        int out = plan.lentOut(rank);
        if (in == 0 && out == 0) {
            return null;
        }
        int first = plan.firstUnit(rank);
        int end = plan.endUnit(rank);
        Block[] variants = new Block[4];
        variants[0] = stage;
        if (in > 0) {
            variants[1] = ModelUnits.stage(units, first - 1, end);
        }
        if (out > 0) {
            variants[2] = ModelUnits.stage(units, first, end - 1);
        }
        if (in > 0 && out > 0) {
            variants[3] = ModelUnits.stage(units, first - 1, end - 1);
        }
        return new LentBoundary(in, in > 0 ? Parameters.of(units.get(first - 1).block()) : List.of(), out,
                out > 0 ? Parameters.of(units.get(end - 1).block()) : List.of(), variants);
    }

    /** Whether this rank keeps unit {@code u}'s parameters under {@code plan}: it runs the unit, or a replica of it. */
    static boolean keeps(PartitionPlan plan, int u, int rank, int ranks) {
        if (plan.stageOf(u) % ranks == rank) {
            return true;
        }
        return plan.stages() == ranks && plan.lentIn(rank) > 0 && u == plan.firstUnit(rank) - 1;
    }
}
