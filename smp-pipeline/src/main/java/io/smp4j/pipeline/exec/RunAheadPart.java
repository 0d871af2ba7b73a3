package io.smp4j.pipeline.exec;

import io.smp4j.pipeline.schedule.RunAhead;

/** {@link RunAhead} as an executor part: in training steps, moves up forwards whose input is here while a later one waits. */
final class RunAheadPart implements StepPart {
    private final int activeMicrobatches;

    RunAheadPart(int activeMicrobatches) {
        this.activeMicrobatches = activeMicrobatches;
    }

    @Override
    public void beforeAction(StepRun step, int i) {
        if (step.training()) {
            RankStage s = step.stage();
            RunAhead.pull(step.order(), i, step.flights().held(), activeMicrobatches,
                    r -> s.link().arrived(r, s.global(r.chunk()), step.microbatches()));
        }
    }
}
