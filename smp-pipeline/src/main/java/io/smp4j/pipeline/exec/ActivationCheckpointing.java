package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import io.smp4j.pipeline.djl.DjlInternals;
import io.smp4j.pipeline.model.Parameters;
import io.smp4j.pipeline.schedule.Action;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * Activation checkpointing as an executor part (see {@code PipelineExecutor.setActivationCheckpointing}): while
 * training, a stage other than the last runs each microbatch's forward without recording a graph and keeps only its
 * input and output; its backward first recomputes the forward (recording), then backpropagates, then puts back what the
 * recomputation did to batch-norm running statistics.
 */
final class ActivationCheckpointing implements StepPart {
    @Override
    public StageForward.Result forward(StepRun step, Action a, InFlight f, boolean recordsGraph, NDManager scope,
                                       Forward next) {
        int c = a.chunk();
        if (!recordsGraph || !step.training() || step.stage().last(c)) {
            return next.run(recordsGraph, scope); // the last stage keeps its activations (its backward needs the loss)
        }
        return forwardKeepingInput(next, a.microbatch(), f, step.stage().global(c));
    }

    @Override
    public void backward(StepRun step, Action a, InFlight f, Runnable next) {
        if (!f.recompute) {
            next.run();
            return;
        }
        StageCall again = step.call(a, f, f.scope, true);
        Runnable restore = recompute(in -> again.forward(in, true), again.block(), f);
        next.run();
        restore.run();
    }

    /**
     * A forward without a graph: its intermediate arrays are freed at once; the stage input and output stay in the
     * microbatch's scope.
     */
    private static StageForward.Result forwardKeepingInput(Forward forward, int mb, InFlight f, int stageIndex) {
        try (NDManager activations = f.scope.newSubManager()) {
            if (f.input != null) {
                // Arrays computed from the input join its manager: here the scratch scope (the input returns to
                // the microbatch's scope when it closes).
                f.input.tempAttach(activations);
            }
            StageForward.Result r;
            try (DjlInternals.GradMode off = DjlInternals.withoutGradients()) {
                r = forward.run(false, activations);
            }
            if (r.stageInput() == null) {
                throw new IllegalStateException("activation checkpointing needs the stage input of microbatch " + mb
                        + " on stage " + stageIndex + " to recompute its forward; the step did not report it");
            }
            if (f.input == null) {
                r.stageInput().attach(f.scope);
            }
            r.output().attach(f.scope);
            f.recompute = true;
            return new StageForward.Result(r.output(), null, r.stageInput());
        }
    }

    /**
     * Runs the stage forward again, now recording the graph, on the input it ran on (the received activations
     * themselves, so that their gradients are computed). Batch normalisation updates its running statistics in a
     * training forward: the returned action puts them back as they were, so that the recomputation changes nothing
     * but the graph; run it after the backward (autograd refuses arrays it saved that changed in between).
     */
    private static Runnable recompute(UnaryOperator<NDList> forwardStage, Block stage, InFlight f) {
        NDList in = f.input != null ? f.input : f.result.stageInput();
        List<NDArray> state = Parameters.untrainedArrays(stage);
        List<NDArray> saved = new ArrayList<>();
        for (NDArray a : state) {
            NDArray c = a.duplicate();
            c.attach(f.scope);
            saved.add(c);
        }
        NDList out = forwardStage.apply(in);
        out.attach(f.scope);
        f.result = new StageForward.Result(out, null, f.result.stageInput());
        f.recompute = false;
        return () -> {
            for (int i = 0; i < state.size(); i++) {
                // In place, outside autograd (these arrays need no gradient): exact for finite values.
                state.get(i).subi(state.get(i)).addi(saved.get(i));
            }
        };
    }
}
