package io.smp4j.pipeline.exec;

import io.smp4j.pipeline.schedule.Action;

/** Observer of the actions a {@link PipelineExecutor} runs (the timeline trace hooks in here). */
@FunctionalInterface
public interface ActionListener {
    void executed(Action action, long startNanos, long endNanos);

    /** Whether it records now: only then are clocks read (and the device synchronised around each action). */
    default boolean active() {
        return true;
    }
}
