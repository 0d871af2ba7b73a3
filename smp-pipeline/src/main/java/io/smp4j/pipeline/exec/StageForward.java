package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;

/**
 * One microbatch's forward on a stage, supplied by the caller of {@link PipelineExecutor#run}: run the stage ({@link
 * StageCall#forward}) on the received activations (or, on stage 0, on the caller's data) and say what to send on and
 * what to backpropagate.
 */
@FunctionalInterface
public interface StageForward {
    /** @param call the microbatch, what arrived for it, its scope and the stage to run */
    Result forward(StageCall call);

    /**
     * @param output         the stage output (sent to the next stage unless this is the last), in the scope
     * @param backwardTarget on the last stage when training, the scalar to backpropagate (already scaled); else
     *                       null. Arrays autograd needs must live in the microbatch's scope.
     * @param stageInput     what {@link StageCall#forward} ran on (needed for activation checkpointing)
     */
    record Result(NDList output, NDArray backwardTarget, NDList stageInput) {
        /** Without the stage input (then the stage cannot recompute its forward: no activation checkpointing). */
        public Result(NDList output, NDArray backwardTarget) {
            this(output, backwardTarget, null);
        }
    }
}
