package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.smp4j.pipeline.wire.TensorCodec;
import java.util.function.Supplier;

/**
 * The state of one microbatch while a step body runs for it on this thread: what {@code DistributedModel.forward}
 * and {@code backward} read and record. In the tracing pass (the first step, before partitioning) the model runs
 * whole; afterwards only this rank's stage.
 */
public final class MicrobatchContext {
    private static final ThreadLocal<MicrobatchContext> CURRENT = new ThreadLocal<>();

    private final int microbatch;
    private final NDList received;
    private final NDManager scope;
    private final boolean tracing;
    private NDList input;
    private NDList output;
    private NDArray backwardTarget;
    private TensorCodec.Header modelOutput;

    private MicrobatchContext(int microbatch, NDList received, NDManager scope, boolean tracing) {
        this.microbatch = microbatch;
        this.received = received;
        this.scope = scope;
        this.tracing = tracing;
    }

    /** The tracing pass over microbatch 0, before the model is partitioned. */
    static MicrobatchContext tracing(NDManager scope) {
        return new MicrobatchContext(0, null, scope, true);
    }

    /** A scheduled forward of {@code microbatch}; {@code received} is null on stage 0. */
    static MicrobatchContext running(int microbatch, NDList received, NDManager scope) {
        return new MicrobatchContext(microbatch, received, scope, false);
    }

    /** The context of the step body running on this thread. */
    public static MicrobatchContext current(String caller) {
        MicrobatchContext c = CURRENT.get();
        if (c == null) {
            throw new IllegalStateException(caller + " is only valid inside a @Step method run by Smp.step");
        }
        return c;
    }

    /** Runs {@code body} with this context current. */
    <T> T run(Supplier<T> body) {
        MicrobatchContext outer = CURRENT.get();
        CURRENT.set(this);
        try {
            return body.get();
        } finally {
            CURRENT.set(outer);
        }
    }

    public int microbatch() {
        return microbatch;
    }

    public boolean tracing() {
        return tracing;
    }

    /** The activations received from the previous stage, or null on stage 0 (and while tracing). */
    public NDList received() {
        return received;
    }

    /** This microbatch's arrays live here until its last action on this stage. */
    public NDManager scope() {
        return scope;
    }

    /** Records the stage input (tracing: the model input) and the stage or model output of this microbatch. */
    public void recordForward(NDList stageInput, NDList stageOutput) {
        if (output != null) {
            throw new IllegalStateException("model.forward was called twice for microbatch " + microbatch
                    + "; a step runs the model once per microbatch");
        }
        input = stageInput;
        output = stageOutput;
        if (tracing) {
            modelOutput = TensorCodec.Header.of(stageOutput);
        }
    }

    public void recordBackward(NDArray target) {
        backwardTarget = target;
    }

    NDList input() {
        return input;
    }

    NDList output() {
        return output;
    }

    NDArray backwardTarget() {
        return backwardTarget;
    }

    TensorCodec.Header modelOutput() {
        return modelOutput;
    }
}
