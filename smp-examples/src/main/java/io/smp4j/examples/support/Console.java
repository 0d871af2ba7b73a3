package io.smp4j.examples.support;

import ai.djl.training.util.ProgressBar;
import io.smp4j.core.train.StepListener;
import io.smp4j.core.train.StepRecord;
import java.util.Locale;

/**
 * What rank 0 of the example prints: log lines and a progress bar per epoch. The bar redraws its line with carriage
 * returns, so a log line that comes while it is drawn starts on a new line.
 */
public final class Console implements StepListener {
    private final boolean enabled;
    private ProgressBar bar;
    private int barTotal;
    /** Steps of the bar drawn. */
    private int barDone;
    /** True while the bar's line is the console's current line. */
    private boolean barOpen;

    public Console(boolean enabled) {
        this.enabled = enabled;
    }

    public void say(String format, Object... args) {
        if (!enabled) {
            return;
        }
        if (barOpen) {
            System.out.println();
            barOpen = false;
        }
        System.out.println(String.format(Locale.ROOT, format, args));
    }

    /** A new bar of {@code steps} steps. */
    public void epoch(int epoch, int steps) {
        if (enabled) {
            bar = new ProgressBar("epoch " + epoch, steps);
            barTotal = steps;
            barDone = 0;
        }
    }

    /** The bar shows each step's loss; a new epoch opens a new bar ({@link #epoch}). */
    @Override
    public void onStep(StepRecord r) {
        if (bar != null) {
            progress(barDone++, String.format(Locale.ROOT, "loss %.4f", r.loss()));
        }
    }

    /** Step {@code index} (from 0) of the epoch's bar is done. */
    public void progress(int index, String text) {
        if (enabled) {
            // DJL's ProgressBar counts from 0: update(k) draws k + 1 of its total.
            bar.update(index, text);
            barOpen = index + 1 < barTotal;
        }
    }
}
