package io.smp4j.pipeline.exec;

import io.smp4j.pipeline.schedule.Action;
import java.util.ArrayList;
import java.util.List;

/**
 * Clocks around each action, for the timeline's {@link ActionListener} while it records and for the {@link
 * ComputeClock} while it measures training steps' compute (an evaluation's forwards say nothing about a training
 * step's balance). The {@link DeviceClock} says when the device started and finished an action (its kernels, not their
 * launches): marks the host's clock after waiting for the device, told at once, or marks queued on a GPU, read and
 * told at the step's end.
 */
final class ObservingPart implements StepPart {
    private final ActionListener listener;
    private final DeviceClock marks;
    private final ComputeClock clock;
    private final List<Observed> pending = new ArrayList<>();
    private boolean listened;
    private boolean measured;
    private int start;

    /** An action between two marks, and who is told. */
    private record Observed(Action action, int start, int end, boolean listened, boolean measured) {
    }

    ObservingPart(ActionListener listener, DeviceClock marks, ComputeClock clock) {
        this.listener = listener;
        this.marks = marks;
        this.clock = clock;
    }

    @Override
    public void beginStep(StepRun step) {
        pending.clear();
        marks.forget();
    }

    @Override
    public void beforeAction(StepRun step, int i) {
        Action a = step.order().get(i);
        listened = listener.active();
        measured = clock.measuring() && step.training() && a.type().computes();
        if (listened || measured) {
            start = marks.mark();
        }
    }

    @Override
    public void afterAction(StepRun step, Action a, InFlight f) {
        if (!listened && !measured) {
            return;
        }
        pending.add(new Observed(a, start, marks.mark(), listened, measured));
        if (marks.immediate()) {
            tell();
        }
    }

    @Override
    public void endStep(StepRun step, boolean completed) {
        if (!completed) {
            pending.clear();
            marks.forget();
        } else if (!pending.isEmpty()) {
            tell();
        }
    }

    private void tell() {
        long[] t = marks.resolve();
        for (Observed o : pending) {
            long t0 = t[o.start()];
            long t1 = t[o.end()];
            if (o.measured()) {
                clock.add(o.action().chunk(), t1 - t0, o.action().type() == Action.Type.FORWARD);
            }
            if (o.listened()) {
                listener.executed(o.action(), t0, t1);
            }
        }
        pending.clear();
    }
}
