package io.smp4j.pipeline.exec;

import ai.djl.nn.Parameter;
import java.util.List;

/**
 * Told, during a training step's backward, which parameters' gradients are final for the step: what an all-reduce
 * overlapped with backward needs (PyTorch DDP learns it from autograd hooks, which DJL lacks). Called on the
 * executor's thread, in this order: {@link #stepStarted}, {@link #ready} once per group of parameters (in backward
 * order: the model's last units first), then {@link #backwardDone} once the backward of every microbatch ran, or
 * {@link #aborted} when the step failed.
 */
public interface GradientsReady {
    /** The parameter floats (trainable, with gradients) of every group to come this step. */
    void stepStarted(long floats);

    /** These parameters' gradients will not change again in this step. */
    void ready(List<Parameter> params);

    /** Every group was ready; the step's gradients are complete. */
    void backwardDone();

    /** The step failed before {@link #backwardDone}: finish or drop what is under way. */
    void aborted();

    /** A group closes once it holds at least this many parameter floats. */
    long groupFloats();
}
