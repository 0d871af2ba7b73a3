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
    private Schedule file;

    /** @param log whether to log a hand-written schedule once read (one rank does) */
    StepSchedules(SmpConfig config, int stages, boolean log) {
        this.config = config;
        this.stages = stages;
        this.log = log;
    }

    /** The training schedule, checked by the simulator. */
    synchronized Schedule training() {
        if (config.scheduleFile().isEmpty()) {
            return Schedules.checked(config.pipeline(), stages, config.microbatches(), config.activeMicrobatches(),
                    config.virtualStages());
        }
        if (file == null) {
            file = SmpConfig.schedule(config.scheduleFile(), stages, config.microbatches(), config.virtualStages());
            if (log) {
                LOG.info("pipeline {}", file);
            }
        }
        return file;
    }
}
