package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import io.smp4j.pipeline.schedule.Action;

/**
 * One mode of the {@link PipelineExecutor} (run-ahead, observing, activation checkpointing, backward in segments,
 * lent units): the run loop calls every active part at each of these points, in the executor's order of parts, and
 * knows nothing of what a part does. A new mode is a new part; the loop does not change. Every hook does nothing by
 * default.
 */
interface StepPart {
    /** Before a step's first action. */
    default void beginStep(StepRun step) {
    }

    /** Before the action at {@code i} of {@link StepRun#order} runs (a part may move later actions up to there). */
    default void beforeAction(StepRun step, int i) {
    }

    /** The block microbatch {@code mb} of chunk {@code c} runs, given what the parts before this one chose. */
    default Block block(int c, int mb, Block block) {
        return block;
    }

    /** A call is made for action {@code a} of {@code f}; {@code recordsGraph}: autograd records it. */
    default void prepare(StepRun step, StageCall call, Action a, InFlight f, boolean recordsGraph) {
    }

    /** The rest of a forward: the later parts, then the step body. */
    interface Forward {
        StageForward.Result run(boolean recordsGraph, NDManager scope);
    }

    /**
     * Runs the forward of {@code a}, as the parts before this one set it up (whether autograd records it, the scope of
     * its arrays); the default passes it on unchanged.
     */
    default StageForward.Result forward(StepRun step, Action a, InFlight f, boolean recordsGraph, NDManager scope,
                                        Forward next) {
        return next.run(recordsGraph, scope);
    }

    /** Runs the backward of {@code a} (the default: {@code next}, the later parts and the backpropagation). */
    default void backward(StepRun step, Action a, InFlight f, Runnable next) {
        next.run();
    }

    /** Backpropagates {@code target} of {@code a} its own way and says so (true), or leaves it to the next part. */
    default boolean backpropagate(StepRun step, Action a, InFlight f, NDArray target) {
        return false;
    }

    /** After action {@code a} ran. */
    default void afterAction(StepRun step, Action a, InFlight f) {
    }

    /** After the last action and the sends ({@code completed}), or when the step failed: once either way. */
    default void endStep(StepRun step, boolean completed) {
    }
}
