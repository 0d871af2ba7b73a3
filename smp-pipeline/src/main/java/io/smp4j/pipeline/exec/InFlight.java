package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;

/** One microbatch's live state on a stage, between its first and its last action there. */
final class InFlight {
    NDManager scope;
    NDList input;
    StageForward.Result result;
    NDList upstreamGradients;
    /** The forward ran without a graph (activation checkpointing): backward recomputes it first. */
    boolean recompute;
}
