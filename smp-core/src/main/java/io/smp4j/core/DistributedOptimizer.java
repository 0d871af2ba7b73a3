package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import ai.djl.training.optimizer.Optimizer;
import io.smp4j.comm.ReduceOp;
import io.smp4j.core.device.PeerAllReduce;
import io.smp4j.pipeline.djl.DjlInternals;
import io.smp4j.pipeline.exec.HostStaging;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Wraps a DJL {@link Optimizer}, as SageMaker's {@code smp.DistributedOptimizer}: {@link #step()} averages the local
 * stage's gradients over the data-parallel group when {@code ddp} is on (on the GPUs through CUDA IPC when the group's
 * GPUs share a host, else through host memory), then updates only this rank's parameters: after the first update, in
 * one call on one flat buffer ({@code flat_parameters}, {@link FlatParameters}).
 *
 * <pre>{@code
 * DistributedOptimizer opt = new DistributedOptimizer(model, Optimizer.sgd().setLearningRateTracker(...).build());
 * smp.step(this, "trainStep", model, images, labels);
 * opt.step();
 * }</pre>
 */
public final class DistributedOptimizer {
    private static final Logger LOG = LoggerFactory.getLogger(DistributedOptimizer.class);
    private final DistributedModel model;
    private final Optimizer optimizer;
    private final GradientAverager averager = new GradientAverager();
    /** The stage's parameters in flat buffers (null before the first update, or where they cannot be). */
    private FlatParameters flat;
    private String flatRefused;
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

    /**
     * fp16's dynamic loss scaling (SageMaker's {@code dynamic_loss_args}, PyTorch's GradScaler): the loss is multiplied
     * by {@code initialScale} before backward; a step whose gradients overflow (inf or NaN on any rank) is skipped on
     * every rank and the scale halved (not below {@code minScale}); after {@code window} good steps in a row it doubles.
     */
    public record LossScaling(float initialScale, int window, float minScale) {
        public LossScaling {
            if (!(initialScale > 0) || window < 1 || !(minScale > 0) || minScale > initialScale) {
                throw new IllegalArgumentException("loss scaling needs initialScale > 0, window >= 1 and 0 < minScale "
                        + "<= initialScale, got " + initialScale + ", " + window + ", " + minScale);
            }
        }

        /** PyTorch GradScaler's defaults: 2^16, doubled after 2000 good steps; SageMaker's min_scale 1. */
        public static LossScaling defaults() {
            return new LossScaling(65536f, 2000, 1f);
        }
    }

    private final LossScaling scaling;
    private float scale;
    private int goodSteps;
    private long skipped;

    public DistributedOptimizer(DistributedModel model, Optimizer optimizer) {
        this(model, optimizer, LossScaling.defaults());
    }

    /** With fp16 loss scaling as given ({@code fp16} on); without fp16 it is not used. */
    public DistributedOptimizer(DistributedModel model, Optimizer optimizer, LossScaling scaling) {
        this.model = model;
        this.optimizer = optimizer;
        this.scaling = scaling;
        // Memory limits weigh a stage's parameters by weights + gradients + this optimizer's state arrays.
        model.stateFactor(2 + DjlInternals.optimizerState(optimizer).size());
        if (model.smp().config().fp16()) {
            scale = scaling.initialScale();
            model.lossScaling(scale);
        }
    }

    /** fp16's current loss scale; 0 without fp16. */
    public float lossScale() {
        return model.smp().config().fp16() ? scale : 0;
    }

    /** Steps skipped because their fp16 gradients overflowed. */
    public long skippedSteps() {
        return skipped;
    }

    /** Half precision's gradients: one flat fp32 array, or null (added into the masters' own); fp16: their size. */
    private record Unscaled(NDArray flat, double magnitude) {
    }

    /** This step's half-precision gradients, times 1 / loss scale with fp16 (flat where the masters are). */
    private Unscaled unscale(HalfPrecision half, List<Parameter> params, boolean useFlat, NDManager scope) {
        boolean fp16 = model.smp().config().fp16();
        float factor = fp16 ? 1f / scale : 1f;
        NDArray g = useFlat ? half.flatGradients(flat, scope, factor) : null;
        if (g != null) {
            return new Unscaled(g, fp16 ? g.sum().getFloat() : 0);
        }
        if (flat != null) {
            half.defineMasterGradients(params); // flat views renewed by the last update have none
        }
        return new Unscaled(null, half.gradientsToMasters(params, factor));
    }

    /**
     * fp16: whether this step's gradients are finite on every rank; where not, all skip the step together (dropping
     * the gradients) and the loss scale halves; after a window of good steps it doubles.
     */
    private boolean finite(List<Parameter> params, Unscaled u) {
        float[] bad = {Double.isFinite(u.magnitude()) ? 0 : 1};
        model.smp().world().allReduce(bad, ReduceOp.SUM);
        if (bad[0] > 0) {
            for (int i = 0; u.flat() == null && i < params.size(); i++) {
                DjlInternals.zeroGradient(params.get(i).getArray()); // flat: the copies' gradients are dropped
            }
            skipped++;
            goodSteps = 0;
            float lower = Math.max(scaling.minScale(), scale / 2);
            LOG.info("fp16: gradients overflowed on {} rank(s) at loss scale {}: step skipped on every rank, scale {}",
                    (int) bad[0], scale, lower);
            scale = lower;
            model.lossScaling(scale);
            return false;
        }
        if (++goodSteps >= scaling.window()) {
            goodSteps = 0;
            scale *= 2;
            model.lossScaling(scale);
        }
        return true;
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

    /**
     * The data-parallel average of this step's gradients (not overlapped with backward): of the flat gradient array
     * where there is one, else of each parameter's gradient; on the GPUs through CUDA IPC where the group's GPUs share a
     * host, else through host memory.
     */
    private GradientAverager.Times allReduce(Smp smp, List<Parameter> params, NDArray flatGradients) {
        PeerAllReduce onGpus = smp.deviceResources().gradientAllReduce(model.manager());
        HostStaging staging = smp.deviceResources().hostCopies();
        if (flatGradients != null) {
            if (onGpus == null) {
                return averager.average(smp.dataParallelGroup(), flatGradients, staging);
            }
            PeerAllReduce.Times t = onGpus.average(List.of(flatGradients));
            return new GradientAverager.Times(t.copyMillis(), t.allReduceMillis());
        }
        if (onGpus == null) {
            return averager.average(smp.dataParallelGroup(), params, staging);
        }
        List<NDArray> grads = new ArrayList<>();
        for (Parameter p : params) {
            grads.add(DjlInternals.gradient(p.getArray()));
        }
        try {
            PeerAllReduce.Times t = onGpus.average(grads);
            return new GradientAverager.Times(t.copyMillis(), t.allReduceMillis());
        } finally {
            grads.forEach(NDArray::close);
        }
    }

    /**
     * After an update parameter by parameter (the first step, or the first after the stage's parameters changed):
     * the stage's parameters into one flat buffer for the steps that follow ({@code flat_parameters}, on by default),
     * where {@link FlatParameters#whyNot} finds nothing against it.
     */
    private void makeFlat(List<Parameter> params) {
        if (!model.smp().config().flatParameters()) {
            return;
        }
        String why = FlatParameters.whyNot(optimizer, params);
        if (why != null) {
            if (!why.equals(flatRefused)) {
                LOG.info("flat parameters off: {}", why);
                flatRefused = why;
            }
            return;
        }
        FlatParameters old = flat;
        flat = FlatParameters.of(params, model.manager(), optimizer);
        if (old != null) {
            old.release(optimizer);
        }
        model.executor().parameterArraysReplaced();
        LOG.info("flat parameters: {} parameters in {} floats on {}{}", params.size(), flat.size(),
                flat.weights().getDevice(), model.halfPrecision() == null ? "" : ", half-precision copies cast from them");
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
        boolean useFlat = flat != null && flat.covers(params) && flat.countsAgree(optimizer);
        try (NDManager scope = model.manager().newSubManager()) {
            NDArray flatGradients = null;
            if (model.halfPrecision() != null) {
                Unscaled u = unscale(model.halfPrecision(), params, useFlat, scope);
                if (model.smp().config().fp16() && !finite(params, u)) {
                    return;
                }
                flatGradients = u.flat();
                useFlat = flatGradients != null;
            }
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
                if (useFlat && flatGradients == null) {
                    flatGradients = flat.gradients(scope);
                }
                dp = allReduce(smp, params, flatGradients);
                if (timed) {
                    timeline.add(Timeline.Kind.ALL_REDUCE, "all-reduce", -1, t0, clock(smp, true));
                }
            }
            // The re-partitioner weighs stages by their update time too: while it measures, that time is the device's.
            boolean measured = timed || model.executor().computeClock().measuring();
            long t0 = clock(smp, measured);
            if (useFlat) {
                flat.update(optimizer, flatGradients); // null: each update group concatenates its own gradients
                model.executor().parameterArraysReplaced(); // new views, without gradients
            } else {
                for (Parameter p : params) {
                    NDArray w = p.getArray();
                    try (NDArray g = DjlInternals.gradient(w)) {
                        optimizer.update(p.getId(), w, g);
                    }
                }
            }
            if (useFlat || DjlInternals.updateZeroesGradients(optimizer)) {
                model.executor().gradientsZeroed(); // the next step need not zero them again
            }
            long t1 = clock(smp, measured);
            if (timed) {
                timeline.add(Timeline.Kind.UPDATE, "update", -1, t0, t1);
            }
            last = new StepTimes(dp.copyMillis(), dp.allReduceMillis(), (t1 - t0) / 1e6,
                    overlapped == null ? 0 : overlapped.allReduceMillis(), overlapped == null ? 0 : overlapped.buckets());
        }
        if (!useFlat) {
            makeFlat(params);
        }
        model.afterUpdate(optimizer, last.updateMillis());
        if (model.halfPrecision() != null) {
            model.halfPrecision().useFlat(flat); // the next step's copies: one cast of the flat masters
        }
    }
}
