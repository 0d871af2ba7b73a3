package io.smp4j.core;

import io.smp4j.pipeline.schedule.Schedule;
import io.smp4j.pipeline.schedule.Schedules;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The schedules a job's steps run, from its configuration: for training the hand-written one of {@code schedule_file}
 * (read and checked once) or {@code pipeline}'s; for evaluation, forwards only.
 */
final class StepSchedules {
    private static final Logger LOG = LoggerFactory.getLogger(StepSchedules.class);
    private final SmpConfig config;
    private final int stages;
    private final boolean log;
    /** The training schedule once made (a hand-written one read and checked, or pipeline's), and evaluation's. */
    private Schedule training;
    private Schedule evaluation;

    /** @param log whether to log a hand-written schedule once read (one rank does) */
    StepSchedules(SmpConfig config, int stages, boolean log) {
        this.config = config;
        this.stages = stages;
        this.log = log;
    }

    /** The training schedule, checked by the simulator; made once (a step asks for it each time). */
    synchronized Schedule training() {
        if (training != null) {
            return training;
        }
        if (config.scheduleFile().isEmpty()) {
            training = Schedules.checked(config.pipeline(), stages, config.microbatches(), config.activeMicrobatches(),
                    config.virtualStages());
        } else {
            training = SmpConfig.schedule(config.scheduleFile(), stages, config.microbatches(),
                    config.virtualStages());
            if (log) {
                LOG.info("pipeline {}", training);
            }
        }
        return training;
    }

    /** The evaluation schedule: every stage forwards the microbatches in order; made once. */
    synchronized Schedule evaluation() {
        if (evaluation == null) {
            evaluation = Schedules.forwardOnly(stages, config.microbatches(), config.virtualStages());
        }
        return evaluation;
    }
}
