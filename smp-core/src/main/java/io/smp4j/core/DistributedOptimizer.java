package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import ai.djl.training.optimizer.Optimizer;
import io.smp4j.core.device.CudaIpcAllReduce;
import io.smp4j.pipeline.djl.DjlInternals;
import java.util.ArrayList;
import java.util.List;

/**
 * Wraps a DJL {@link Optimizer}, as SageMaker's {@code smp.DistributedOptimizer}: {@link #step()} averages the local
 * stage's gradients over the data-parallel group when {@code ddp} is on (on the GPUs through CUDA IPC when the group's
 * GPUs share a host, else through host memory), then updates only this rank's parameters.
 *
 * <pre>{@code
 * DistributedOptimizer opt = new DistributedOptimizer(model, Optimizer.sgd().setLearningRateTracker(...).build());
 * smp.step(this, "trainStep", model, images, labels);
 * opt.step();
 * }</pre>
 */
public final class DistributedOptimizer {
    private final DistributedModel model;
    private final Optimizer optimizer;
    private final GradientAverager averager = new GradientAverager();
    private volatile StepTimes last = new StepTimes(0, 0, 0, 0, 0);

    /**
     * Where the last {@link #step()} spent its time, in milliseconds: gradient copies, the all-reduce on the training
     * thread's path (with {@code overlap_allreduce}: only the wait after backward), the update; and, when overlapped,
     * the all-reduce time on the communication thread and its buckets (0 otherwise).
     */
    public record StepTimes(double copyMillis, double allReduceMillis, double updateMillis,
                            double overlappedAllReduceMillis, int buckets) {
        /** The share of an overlapped all-reduce's time that ran during backward (0 when not overlapped). */
        public double hiddenFraction() {
            return overlappedAllReduceMillis <= 0 ? 0 : Math.max(0, 1 - allReduceMillis / overlappedAllReduceMillis);
        }
    }

    public DistributedOptimizer(DistributedModel model, Optimizer optimizer) {
        this.model = model;
        this.optimizer = optimizer;
    }

    /** The wrapped DJL optimizer. */
    public Optimizer optimizer() {
        return optimizer;
    }

    /** Timing of the last {@link #step()}: gradient copies out/in, the all-reduce itself, the optimizer update. */
    public StepTimes lastStepTimes() {
        return last;
    }

    private static long clock(Smp smp, boolean synchronize) {
        if (synchronize) {
            smp.synchronize();
        }
        return System.nanoTime();
    }

    /** Call after a training step. */
    public void step() {
        if (!model.partitioned()) {
            throw new IllegalStateException("DistributedOptimizer.step() before the first step: nothing to update");
        }
        List<Parameter> params = new ArrayList<>();
        for (Parameter p : model.localParameters()) {
            if (p.requiresGradient() && p.getArray().hasGradient()) {
                params.add(p);
            }
        }
        Smp smp = model.smp();
        Timeline timeline = smp.timeline();
        // A recorded interval measures the device's work: synchronise before each clock read (GPU).
        boolean timed = timeline != null && timeline.recording();
        GradientAverager.Times dp = new GradientAverager.Times(0, 0);
        OverlappedAllReduce.Result overlapped = model.takeOverlapped();
        if (overlapped != null) {
            // Averaged during backward, bucket by bucket (smp.step waited for the last bucket).
            dp = new GradientAverager.Times(overlapped.copyMillis(), overlapped.exposedMillis());
            if (timed) {
                for (long[] b : overlapped.intervals()) {
                    timeline.add(Timeline.Kind.ALL_REDUCE, "all-reduce", -1, b[0], b[1]); // one bucket
                }
            }
        } else if (smp.config().ddp() && smp.dpSize() > 1) {
            long t0 = clock(smp, timed);
            CudaIpcAllReduce onGpus = smp.deviceResources().gradientAllReduce(model.manager());
            if (onGpus != null) {
                List<NDArray> grads = new ArrayList<>();
                for (Parameter p : params) {
                    grads.add(DjlInternals.gradient(p.getArray()));
                }
                try {
                    CudaIpcAllReduce.Times t = onGpus.average(grads);
                    dp = new GradientAverager.Times(t.copyMillis(), t.allReduceMillis());
                } finally {
                    grads.forEach(NDArray::close);
                }
            } else {
                dp = averager.average(smp.dataParallelGroup(), params);
            }
            if (timed) {
                timeline.add(Timeline.Kind.ALL_REDUCE, "all-reduce", -1, t0, clock(smp, true));
            }
        }
        // The re-partitioner weighs stages by their update time too: while it measures, that time is the device's.
        boolean measured = timed || model.executor().computeClock().measuring();
        long t0 = clock(smp, measured);
        for (Parameter p : params) {
            NDArray w = p.getArray();
            try (NDArray g = DjlInternals.gradient(w)) {
                optimizer.update(p.getId(), w, g);
            }
        }
        if (DjlInternals.updateZeroesGradients(optimizer)) {
            model.executor().gradientsZeroed(); // the next step need not zero them again
        }
        long t1 = clock(smp, measured);
        if (timed) {
            timeline.add(Timeline.Kind.UPDATE, "update", -1, t0, t1);
        }
        last = new StepTimes(dp.copyMillis(), dp.allReduceMillis(), (t1 - t0) / 1e6,
                overlapped == null ? 0 : overlapped.allReduceMillis(), overlapped == null ? 0 : overlapped.buckets());
        model.afterUpdate(optimizer, last.updateMillis());
    }
}
