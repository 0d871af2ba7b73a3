package io.smp4j.core.train;

import java.util.ArrayList;
import java.util.List;

/** Several {@link StepListener}s called in order, as one. */
public final class StepListeners implements StepListener {
    private final List<StepListener> listeners;

    private StepListeners(List<StepListener> listeners) {
        this.listeners = listeners;
    }

    public static StepListeners of(StepListener... listeners) {
        return new StepListeners(new ArrayList<>(List.of(listeners)));
    }

    /** Adds a listener after the others. */
    public StepListeners add(StepListener l) {
        listeners.add(l);
        return this;
    }

    @Override
    public void onStep(StepRecord step) {
        listeners.forEach(l -> l.onStep(step));
    }

    @Override
    public void onEpochEnd(int epoch, long step) {
        listeners.forEach(l -> l.onEpochEnd(epoch, step));
    }

    @Override
    public void onTrainingEnd(long step) throws Exception {
        for (StepListener l : listeners) {
            l.onTrainingEnd(step);
        }
    }
}
