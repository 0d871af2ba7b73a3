package io.smp4j.core.train;

import java.util.Locale;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Progress as log lines (SLF4J, world rank 0 only): every {@code every} steps, the loss, throughput and extras. */
public final class LoggingListener implements StepListener {
    private static final Logger LOG = LoggerFactory.getLogger(LoggingListener.class);

    private final boolean enabled;
    private final int every;

    /** @param rank this process's world rank (only rank 0 logs) */
    public LoggingListener(int rank, int every) {
        this.enabled = rank == 0;
        this.every = every;
    }

    @Override
    public void onStep(StepRecord r) {
        if (enabled && r.step() % every == 0) {
            StringBuilder extra = new StringBuilder();
            for (Map.Entry<String, Double> e : r.extra().entrySet()) {
                extra.append(String.format(Locale.ROOT, ", %s %.4g", e.getKey(), e.getValue()));
            }
            LOG.info(String.format(Locale.ROOT, "step %d (epoch %d): loss %.4f, %.1f samples/s, %.0f ms%s", r.step(),
                    r.epoch(), r.loss(), r.samplesPerSecond(), r.millis(), extra));
        }
    }
}
