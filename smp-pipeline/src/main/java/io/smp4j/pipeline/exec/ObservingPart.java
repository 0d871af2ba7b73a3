package io.smp4j.pipeline.exec;

import io.smp4j.pipeline.schedule.Action;

/**
 * Clocks around each action, for the timeline's {@link ActionListener} while it records and for the {@link
 * ComputeClock} while it measures training steps' compute (an evaluation's forwards say nothing about a training
 * step's balance). The device is synchronised before each clock read, so that an action's time is its kernels', not
 * their launches'.
 */
final class ObservingPart implements StepPart {
    private final ActionListener listener;
    private final Runnable synchronize;
    private final ComputeClock clock;
    private boolean listened;
    private boolean measured;
    private long t0;

    ObservingPart(ActionListener listener, Runnable synchronize, ComputeClock clock) {
        this.listener = listener;
        this.synchronize = synchronize;
        this.clock = clock;
    }

    @Override
    public void beforeAction(StepRun step, int i) {
        Action a = step.order().get(i);
        listened = listener.active();
        measured = clock.measuring() && step.training() && a.type().computes();
        if (listened || measured) {
            synchronize.run();
        }
        t0 = System.nanoTime();
    }

    @Override
    public void afterAction(StepRun step, Action a, InFlight f) {
        if (!listened && !measured) {
            return;
        }
        synchronize.run();
        long t1 = System.nanoTime();
        if (measured) {
            clock.add(a.chunk(), t1 - t0, a.type() == Action.Type.FORWARD);
        }
        if (listened) {
            listener.executed(a, t0, t1);
        }
    }
}
