package io.smp4j.core;

import ai.djl.nn.Parameter;
import io.smp4j.comm.Backoff;
import io.smp4j.comm.Communicator;
import io.smp4j.comm.ReduceOp;
import io.smp4j.pipeline.exec.GradientsReady;
import io.smp4j.pipeline.exec.HostStaging;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The data-parallel gradient average overlapped with backward (config {@code overlap_allreduce}, {@code bucket_cap_mb}),
 * what PyTorch DDP does from autograd hooks: as the executor's segmented backward reports a group of parameters final
 * ({@link GradientsReady}), a communication thread copies their gradients into that bucket's slice of one flat buffer,
 * all-reduces the slice and writes the averages back, while the earlier units' backward runs; when the backward is
 * done the executor waits for the last buckets. Elementwise, every bucket's average is the one the whole buffer's
 * all-reduce gives when both take the same path (two replicas: any path, a + b being b + a; more: shared memory on one
 * host, which sums in rank order), so the result equals {@link GradientAverager}'s bitwise there.
 *
 * <p>Only the communication thread touches the data-parallel group between the first bucket and {@link #backwardDone}
 * (the executor's thread uses the pipeline group meanwhile, whose messages carry a different context; the transports
 * are safe for use from several threads), and only it touches a bucket's gradients until backwardDone has waited for
 * the bucket (DJL's managers and PyTorch's tensors may be used from several threads).
 */
final class OverlappedAllReduce implements GradientsReady {
    private final Communicator group;
    /** How gradients cross to host memory and back (pinned buffers on a GPU). */
    private final HostStaging staging;
    private final long bucketFloats;
    /** One thread, started on demand, ended when idle: buckets are all-reduced one at a time, in order. */
    private final ThreadPoolExecutor thread;
    private float[] flat = new float[0];
    private int filled;
    private final List<Bucket> buckets = new ArrayList<>();
    private Result result;

    /** One bucket: its parameters, its slice, and when the communication thread worked on it. */
    private static final class Bucket {
        final List<Parameter> params;
        final int offset;
        final int length;
        volatile long startNanos;
        volatile long endNanos;
        volatile long copyNanos;
        Future<?> done;

        Bucket(List<Parameter> params, int offset, int length) {
            this.params = params;
            this.offset = offset;
            this.length = length;
        }
    }

    /**
     * What one step's overlapped average did, in milliseconds: gradient copies out and back and the all-reduces
     * themselves (both on the communication thread, summed over buckets), the wait for them after backward (the part
     * not hidden), and each bucket's all-reduce interval (nanosecond clock) for the timeline.
     */
    record Result(double copyMillis, double allReduceMillis, double exposedMillis, int buckets, long[][] intervals) {
    }

    OverlappedAllReduce(Communicator group, double bucketCapMb, HostStaging staging) {
        this.group = group;
        this.staging = staging;
        this.bucketFloats = Math.max(1, (long) (bucketCapMb * (1 << 20) / 4));
        this.thread = new ThreadPoolExecutor(0, 1, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "smp-gradient-allreduce");
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public long groupFloats() {
        return bucketFloats;
    }

    @Override
    public void stepStarted(long floats) {
        drain();
        // Reused: a fresh 45 MB array per step costs a zeroing pass and G1 humongous allocations.
        if (flat.length != floats) {
            flat = new float[Math.toIntExact(floats)];
        }
        filled = 0;
        buckets.clear();
        result = null;
    }

    @Override
    public void ready(List<Parameter> params) {
        int offset = filled;
        for (Parameter p : params) {
            filled += Math.toIntExact(p.getArray().size());
        }
        if (filled > flat.length) {
            throw new IllegalStateException("the overlapped all-reduce got more gradient floats (" + filled
                    + ") than announced (" + flat.length + ")");
        }
        Bucket b = new Bucket(params, offset, filled - offset);
        float[] buf = flat;
        // Copy out, average, copy back, all on the communication thread: these gradients are final, and the
        // training thread touches them again only after backwardDone has waited for this bucket.
        b.done = thread.submit(() -> {
            long t0 = System.nanoTime();
            GradientAverager.copyGradients(b.params, buf, b.offset, true, staging);
            b.startNanos = System.nanoTime();
            Backoff.runPatiently(() -> group.allReduce(buf, b.offset, b.length, ReduceOp.AVERAGE));
            b.endNanos = System.nanoTime();
            GradientAverager.copyGradients(b.params, buf, b.offset, false, staging);
            b.copyNanos = b.startNanos - t0 + System.nanoTime() - b.endNanos;
        });
        buckets.add(b);
    }

    @Override
    public void backwardDone() {
        if (filled != flat.length) {
            throw new IllegalStateException("the overlapped all-reduce got " + filled + " of " + flat.length
                    + " gradient floats this step");
        }
        long t0 = System.nanoTime();
        for (Bucket b : buckets) {
            await(b);
        }
        long t1 = System.nanoTime();
        long reduce = 0;
        long copies = 0;
        long[][] intervals = new long[buckets.size()][];
        for (int i = 0; i < buckets.size(); i++) {
            Bucket b = buckets.get(i);
            reduce += b.endNanos - b.startNanos;
            copies += b.copyNanos;
            intervals[i] = new long[] {b.startNanos, b.endNanos, b.length};
        }
        result = new Result(copies / 1e6, reduce / 1e6, (t1 - t0) / 1e6, buckets.size(), intervals);
        buckets.clear();
    }

    @Override
    public void aborted() {
        drain();
        result = null;
    }

    /** The result of the step just run, once: null when this step's gradients were not averaged here. */
    Result take() {
        Result r = result;
        result = null;
        return r;
    }

    /** Waits for every bucket under way (a failed step's), ignoring their failures: the step failed already. */
    private void drain() {
        for (Bucket b : buckets) {
            try {
                b.done.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (ExecutionException e) {
                // the step's own failure is what the caller sees
            }
        }
        buckets.clear();
    }

    private static void await(Bucket b) {
        try {
            b.done.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a gradient all-reduce", e);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException("gradient all-reduce failed: " + c, c);
        }
    }
}
