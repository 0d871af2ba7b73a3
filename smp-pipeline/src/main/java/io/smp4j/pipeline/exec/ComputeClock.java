package io.smp4j.pipeline.exec;

/**
 * A {@link PipelineExecutor}'s forward and backward time per chunk in training steps, while measuring (the device
 * synchronised around each action): what re-partitioning decides on.
 */
public final class ComputeClock {
    private final int chunks;
    private boolean measuring;
    private long[] nanos;
    private long[] forwardNanos;

    ComputeClock(int chunks) {
        this.chunks = chunks;
        this.nanos = new long[chunks];
        this.forwardNanos = new long[chunks];
    }

    /** Times forward and backward actions from now on (and starts from zero), until turned off. */
    public void setMeasuring(boolean on) {
        measuring = on;
        nanos = new long[chunks];
        forwardNanos = new long[chunks];
    }

    public boolean measuring() {
        return measuring;
    }

    void add(int chunk, long n, boolean forward) {
        nanos[chunk] += n;
        if (forward) {
            forwardNanos[chunk] += n;
        }
    }

    /**
     * Per chunk, nanoseconds of forward and backward since the last call, and of forward alone.
     *
     * @param total   per chunk, forward + backward
     * @param forward per chunk, forward only (a stage's share of forward shapes the pipeline's fill and drain)
     */
    public record Sample(long[] total, long[] forward) {
    }

    /** What was measured since the last call; starts again from zero. */
    public Sample take() {
        Sample s = new Sample(nanos, forwardNanos);
        nanos = new long[chunks];
        forwardNanos = new long[chunks];
        return s;
    }
}
