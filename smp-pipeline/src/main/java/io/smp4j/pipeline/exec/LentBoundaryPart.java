package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import io.smp4j.pipeline.schedule.Action;

/**
 * {@link LentBoundary lent boundary units} as an executor part: the unit's parameters cross at the step's start,
 * each microbatch runs its variant of the stage, and the gradient sums cross after the backwards that complete them.
 * What sharing costs counts in this stage's time for re-partitioning (not in the timeline's compute), so that a share
 * that does not pay shows in the next check.
 */
final class LentBoundaryPart implements StepPart {
    private final LentBoundary boundary;
    private final ComputeClock clock;
    /** The gradient sums sent this step (closed once the sends completed). */
    private NDList sums;

    LentBoundaryPart(LentBoundary boundary, ComputeClock clock) {
        this.boundary = boundary;
        this.clock = clock;
    }

    @Override
    public void beginStep(StepRun step) {
        RankStage s = step.stage();
        long t0 = System.nanoTime();
        boundary.start(s.link(), s.index(), s.manager(), step.training(), step.microbatches(), step.sends());
        if (clock.measuring() && step.training() && boundary.in() == 0) {
            // Not a replica's receive here, which also waits for the owner to start its step.
            clock.add(0, System.nanoTime() - t0, false);
        }
    }

    @Override
    public Block block(int c, int mb, Block block) {
        return boundary.block(mb);
    }

    @Override
    public void afterAction(StepRun step, Action a, InFlight f) {
        if (a.type() != Action.Type.BACKWARD) {
            return;
        }
        RankStage s = step.stage();
        long t1 = System.nanoTime();
        NDList sent = boundary.afterBackward(a.microbatch(), s.link(), s.index(), s.manager(), step.sends());
        sums = sent != null ? sent : sums;
        if (clock.measuring() && step.training()) {
            clock.add(a.chunk(), System.nanoTime() - t1, false);
        }
    }

    @Override
    public void endStep(StepRun step, boolean completed) {
        if (sums != null) {
            sums.close();
            sums = null;
        }
    }
}
