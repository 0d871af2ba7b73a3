package io.smp4j.core.train;

import io.smp4j.core.Checkpoints;
import io.smp4j.core.DistributedModel;
import io.smp4j.core.DistributedOptimizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Saves a checkpoint ({@link Checkpoints#save}, collective) every {@code every} steps, at the end of every epoch if
 * asked, and at the end of training; never twice for one step.
 */
public final class CheckpointListener implements StepListener {
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointListener.class);

    private final DistributedModel model;
    private final DistributedOptimizer optimizer;
    private final Path dir;
    private final int every;
    private final boolean atEpochEnd;
    private long saved = -1;

    /**
     * @param every      steps between checkpoints (0: none on the way)
     * @param atEpochEnd also at the end of every epoch
     */
    public CheckpointListener(DistributedModel model, DistributedOptimizer optimizer, Path dir, int every,
                              boolean atEpochEnd) {
        this.model = model;
        this.optimizer = optimizer;
        this.dir = dir;
        this.every = every;
        this.atEpochEnd = atEpochEnd;
    }

    @Override
    public void onStep(StepRecord step) {
        if (every > 0 && step.step() % every == 0) {
            save(step.step());
        }
    }

    @Override
    public void onEpochEnd(int epoch, long step) {
        if (atEpochEnd) {
            save(step);
        }
    }

    @Override
    public void onTrainingEnd(long step) {
        save(step);
    }

    private void save(long step) {
        if (step == saved) {
            return;
        }
        try {
            Path p = Checkpoints.save(model, optimizer, dir, step);
            if (model.smp().rank() == 0) {
                LOG.info("checkpoint {}", p);
            }
            saved = step;
        } catch (IOException e) {
            throw new UncheckedIOException("checkpoint of step " + step + " in " + dir + " failed", e);
        }
    }

    /** The last step saved, or -1. */
    public long lastSaved() {
        return saved;
    }
}
