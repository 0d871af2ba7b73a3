package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;

/**
 * One microbatch's forward on a stage, supplied by the caller of {@link PipelineExecutor#run}: run the stage (see
 * {@link PipelineExecutor#forwardStage}) on {@code input} (the received activations, or null on stage 0 where the
 * caller has the data) and say what to send on and what to backpropagate.
 */
@FunctionalInterface
public interface StageForward {
    /**
     * @param microbatch the microbatch index
     * @param input      the stage inputs (floating-point ones require gradients), or null on stage 0
     * @param scope      where this microbatch's arrays live until its last action on this stage
     */
    Result forward(int microbatch, NDList input, NDManager scope);

    /**
     * @param output         the stage output (sent to the next stage unless this is the last), in the scope
     * @param backwardTarget on the last stage when training, the scalar to backpropagate (already scaled); else
     *                       null. Arrays autograd needs must live in the microbatch's scope.
     * @param stageInput     what {@link PipelineExecutor#forwardStage} ran on (needed for activation checkpointing)
     */
    record Result(NDList output, NDArray backwardTarget, NDList stageInput) {
        /** Without the stage input (then the stage cannot recompute its forward: no activation checkpointing). */
        public Result(NDList output, NDArray backwardTarget) {
            this(output, backwardTarget, null);
        }
    }
}
