package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import io.smp4j.pipeline.djl.DjlInternals;
import io.smp4j.pipeline.wire.TensorCodec;
import java.util.function.UnaryOperator;

/**
 * What one microbatch's forward on this rank gets from the executor, passed to {@link StageForward#forward}: the
 * microbatch, what the previous stage sent, the scope its arrays live in, where its chunk sits in the model, and the
 * stage itself to run ({@link #forward}). Everything a step body needs of the executor travels in this object; the
 * executor keeps no "current microbatch" of its own.
 */
public final class StageCall {
    private final int microbatch;
    private final NDList received;
    private final NDManager scope;
    private final boolean firstStage;
    private final boolean lastStage;
    private final Block block;
    private final ParameterStore store;
    private final String stage;
    /** A training forward run another way (in segments, {@link SegmentedBackward}), or null: the block's forward. */
    private UnaryOperator<NDList> training;

    StageCall(int microbatch, NDList received, NDManager scope, boolean firstStage, boolean lastStage, Block block,
              ParameterStore store, String stage) {
        this.microbatch = microbatch;
        this.received = received;
        this.scope = scope;
        this.firstStage = firstStage;
        this.lastStage = lastStage;
        this.block = block;
        this.store = store;
        this.stage = stage;
    }

    public int microbatch() {
        return microbatch;
    }

    /** The stage inputs the previous stage sent (floating-point ones require gradients), or null on stage 0. */
    public NDList received() {
        return received;
    }

    /** Where this microbatch's arrays live until its last action on this stage. */
    public NDManager scope() {
        return scope;
    }

    /** Whether this call's chunk is the model's first stage. */
    public boolean firstStage() {
        return firstStage;
    }

    /** Whether this call's chunk is the model's last stage (the one whose output is the model's). */
    public boolean lastStage() {
        return lastStage;
    }

    /** The block this call runs (its chunk, or a variant of it with lent units). */
    Block block() {
        return block;
    }

    /** A part runs this call's training forward its own way. */
    void runTrainingWith(UnaryOperator<NDList> forward) {
        training = forward;
    }

    /**
     * Runs the stage on {@code input} (training: batch statistics, autograd). A stage that cannot take the input (a
     * count, shape or type mismatch between what the previous stage sent and what this one expects) fails with an
     * error naming the stage and the input it got.
     */
    public NDList forward(NDList input, boolean training) {
        try {
            if (training && this.training != null) {
                return this.training.apply(input);
            }
            return DjlInternals.forward(block, store, input, training);
        } catch (RuntimeException e) {
            throw new IllegalStateException(stage + " cannot run on its input " + TensorCodec.Header.of(input) + ": "
                    + e.getMessage(), e);
        }
    }
}
