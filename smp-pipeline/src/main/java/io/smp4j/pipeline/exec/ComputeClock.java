package io.smp4j.pipeline.exec;

/**
 * A {@link PipelineExecutor}'s forward and backward time per chunk in training steps, while measuring (the device
 * synchronised around each action): what re-partitioning decides on.
 */
public final class ComputeClock {
    private final int chunks;
    private boolean measuring;
    private long[] nanos;

    ComputeClock(int chunks) {
        this.chunks = chunks;
        this.nanos = new long[chunks];
    }

    /** Times forward and backward actions from now on (and starts from zero), until turned off. */
    public void setMeasuring(boolean on) {
        measuring = on;
        nanos = new long[chunks];
    }

    public boolean measuring() {
        return measuring;
    }

    void add(int chunk, long n) {
        nanos[chunk] += n;
    }

    /** Per chunk, nanoseconds of forward and backward since the last call, reset. */
    public long[] take() {
        long[] n = nanos;
        nanos = new long[chunks];
        return n;
    }
}
