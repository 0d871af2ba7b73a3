package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.smp4j.pipeline.exec.StageCall;
import io.smp4j.pipeline.wire.TensorCodec;

/**
 * The state of one microbatch while a step body runs for it: what {@code DistributedModel.forward} and {@code backward}
 * read and record. The step runner makes it from the executor's {@link StageCall} and hands it to the model for the
 * body's duration ({@link StepModel#running}). In the tracing pass (the first step, before partitioning) the model runs
 * whole; afterwards only this rank's stage.
 */
public final class MicrobatchContext {
    /** Where the tracing pass's arrays live; null for a scheduled forward (its call has the scope). */
    private final NDManager tracingScope;
    /** The executor's call for this microbatch; null while tracing. */
    private final StageCall call;
    private NDList input;
    private NDList output;
    private NDArray backwardTarget;
    private TensorCodec.Header modelOutput;

    private MicrobatchContext(NDManager tracingScope, StageCall call) {
        this.tracingScope = tracingScope;
        this.call = call;
    }

    /** The tracing pass over microbatch 0, before the model is partitioned. */
    static MicrobatchContext tracing(NDManager scope) {
        return new MicrobatchContext(scope, null);
    }

    /** A scheduled forward: the executor's {@code call}. */
    static MicrobatchContext running(StageCall call) {
        return new MicrobatchContext(null, call);
    }

    /** The executor's call for this microbatch (the stage to run, whether it is the last); null while tracing. */
    public StageCall call() {
        return call;
    }

    public int microbatch() {
        return call == null ? 0 : call.microbatch();
    }

    public boolean tracing() {
        return call == null;
    }

    /** The activations received from the previous stage, or null on stage 0 (and while tracing). */
    public NDList received() {
        return call == null ? null : call.received();
    }

    /** This microbatch's arrays live here until its last action on this stage. */
    public NDManager scope() {
        return call == null ? tracingScope : call.scope();
    }

    /** Records the stage input (tracing: the model input) and the stage or model output of this microbatch. */
    public void recordForward(NDList stageInput, NDList stageOutput) {
        if (output != null) {
            throw new IllegalStateException("model.forward was called twice for microbatch " + microbatch()
                    + "; a step runs the model once per microbatch");
        }
        input = stageInput;
        output = stageOutput;
        if (tracing()) {
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
