package io.smp4j.core;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.smp4j.pipeline.exec.PipelineExecutor;
import io.smp4j.pipeline.wire.TensorCodec;

/** What the step runner needs of the model a step trains (implemented by {@code DistributedModel}). */
public interface StepModel {
    boolean partitioned();

    /**
     * Partitions with {@code sample} (one microbatch of the model input); {@code modelOutput} is what the whole model
     * returned for it in the tracing pass.
     */
    void partition(NDList sample, TensorCodec.Header modelOutput);

    /** This rank's executor (after partitioning). */
    PipelineExecutor executor();

    boolean isTraining();

    /** Where step outputs live. */
    NDManager manager();

    /** A step begins (after partitioning, before its schedule runs). */
    default void beginStep() {
    }

    /**
     * Runs {@code body} (the step body for one microbatch) with {@code microbatch} as this model's running microbatch:
     * what its {@code forward} and {@code backward} inside the body read and record. The runner passes the context
     * here, at the call; the model holds it only while the body runs.
     */
    <T> T running(MicrobatchContext microbatch, java.util.function.Supplier<T> body);

    /** Takes ownership of a step's output, closing the previous one (so an unclosed output does not pile up). */
    void adoptOutput(StepOutput output);
}
