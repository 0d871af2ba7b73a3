package io.smp4j.core.train;

/**
 * Hooks around a training loop, as DJL's {@code TrainingListener}s are around its {@code Trainer}: progress, metrics,
 * checkpoints. Called on every rank with the same values (a step's loss is the global batch's), in the order the
 * loop reports them; {@link StepListeners} calls several.
 */
public interface StepListener {
    /** One training step done (its optimizer update too). */
    default void onStep(StepRecord step) {
    }

    /** Epoch {@code epoch} (from 1) ended with step {@code step}. */
    default void onEpochEnd(int epoch, long step) {
    }

    /** The loop ended after step {@code step}. */
    default void onTrainingEnd(long step) throws Exception {
    }
}
