package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.smp4j.pipeline.schedule.Action;

/** One microbatch's live state on a stage, between its first and its last action there. */
final class InFlight {
    NDManager scope;
    NDList input;
    StageForward.Result result;
    NDList upstreamGradients;
    /** The forward ran without a graph (activation checkpointing): backward recomputes it first. */
    boolean recompute;
    /** The chunk's forward in segments (input, output each), for a backward in segments; else null. */
    java.util.List<NDList[]> segments;

    /** Whether {@code a} is a microbatch's last action on its chunk (the first or last stage or neither). */
    static boolean lastAction(Action a, boolean training, boolean firstStage, boolean lastStage) {
        if (!training) {
            return lastStage ? a.type() == Action.Type.FORWARD : a.type() == Action.Type.SEND_ACTIVATION;
        }
        return firstStage ? a.type() == Action.Type.BACKWARD : a.type() == Action.Type.SEND_GRADIENT;
    }
}
