package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import io.smp4j.pipeline.schedule.Action;
import java.util.List;

/**
 * A step's active {@link StepPart parts}, in order, as the run loop sees them: each hook called on every part in turn,
 * a forward and a backward passed from part to part, a forward call made and prepared by all of them.
 */
final class Parts implements StepRun.Calls {
    private final List<StepPart> parts;
    private final RankStage stage;

    Parts(List<StepPart> parts, RankStage stage) {
        this.parts = List.copyOf(parts);
        this.stage = stage;
    }


    /** The block microbatch {@code mb} of chunk {@code c} runs. */
    private Block block(int c, int mb) {
        Block b = stage.chunks().get(c);
        for (StepPart p : parts) {
            b = p.block(c, mb, b);
        }
        return b;
    }

    private StepRun step;

    /** A step begins: the parts' {@link StepPart#beginStep}; calls are made for this step from now on. */
    void beginStep(StepRun run) {
        step = run;
        for (StepPart p : parts) {
            p.beginStep(step);
        }
    }

    void beforeAction(int i) {
        for (StepPart p : parts) {
            p.beforeAction(step, i);
        }
    }

    void afterAction(Action a, InFlight f) {
        for (StepPart p : parts) {
            p.afterAction(step, a, f);
        }
    }

    /** Once per step, completed or not. */
    void endStep(boolean completed) {
        for (StepPart p : parts) {
            p.endStep(step, completed);
        }
    }

    @Override
    public StageCall make(Action a, InFlight f, NDManager scope, boolean recordsGraph) {
        int c = a.chunk();
        StageCall call = new StageCall(a.microbatch(), f.input, scope, stage.first(c), stage.last(c),
                block(c, a.microbatch()), stage.store(), stage.describe(c));
        for (StepPart p : parts) {
            p.prepare(step, call, a, f, recordsGraph);
        }
        return call;
    }

    /** Runs forward action {@code a}: through the parts, then {@code body}. */
    StageForward.Result forward(Action a, InFlight f, StageForward body) {
        return forward(0, a, f, body, true, f.scope);
    }

    private StageForward.Result forward(int k, Action a, InFlight f, StageForward body, boolean records,
                                        NDManager scope) {
        if (k == parts.size()) {
            return body.forward(make(a, f, scope, records));
        }
        return parts.get(k).forward(step, a, f, records, scope, (r, s) -> forward(k + 1, a, f, body, r, s));
    }

    /** Runs backward action {@code a}: through the parts, then backpropagates its target. */
    void backward(Action a, InFlight f) {
        backward(0, a, f);
    }

    private void backward(int k, Action a, InFlight f) {
        if (k < parts.size()) {
            parts.get(k).backward(step, a, f, () -> backward(k + 1, a, f));
            return;
        }
        int c = a.chunk();
        NDArray target = stage.last(c) ? f.result.backwardTarget()
                : StageGradients.backwardTarget(f, a.microbatch(), stage.describe(c));
        for (StepPart p : parts) {
            if (p.backpropagate(step, a, f, target)) {
                return;
            }
        }
        step.gradients().backward(target);
    }
}
