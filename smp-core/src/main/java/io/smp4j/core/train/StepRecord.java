package io.smp4j.core.train;

import java.util.Map;

/**
 * One training step as {@link StepListener}s see it.
 *
 * @param step    steps done so far, from 1 (a resumed run continues the count)
 * @param epoch   the step's epoch, from 1
 * @param loss    the step's loss (the global batch's mean)
 * @param millis  the step's wall time
 * @param samples samples in the global batch
 * @param extra   other values of the step by name (an accuracy, a loss scale), possibly empty
 */
public record StepRecord(long step, int epoch, float loss, double millis, long samples, Map<String, Double> extra) {
    public StepRecord {
        extra = Map.copyOf(extra);
    }

    /** Samples per second over the step. */
    public double samplesPerSecond() {
        return samples / (millis / 1e3);
    }
}
