package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import ai.djl.training.optimizer.Optimizer;
import io.smp4j.comm.ReduceOp;
import java.util.ArrayList;
import java.util.List;

/**
 * Wraps a DJL {@link Optimizer}, as SageMaker's {@code smp.DistributedOptimizer}: {@link #step()} averages the local
 * stage's gradients over the data-parallel group (one all-reduce of all gradients as one buffer: shared memory on
 * one host, the ring across hosts) when {@code ddp} is on, then updates only this rank's parameters.
 */
public final class DistributedOptimizer {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(DistributedOptimizer.class);
    private final DistributedModel model;
    private final Optimizer optimizer;

    public DistributedOptimizer(DistributedModel model, Optimizer optimizer) {
        this.model = model;
        this.optimizer = optimizer;
    }

    /** The wrapped DJL optimizer. */
    public Optimizer optimizer() {
        return optimizer;
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
        double[] dp = {0, 0};
        if (smp.config().ddp() && smp.dpSize() > 1) {
            long t0 = System.nanoTime();
            dp = averageOverReplicas(smp, params);
            if (timeline != null) {
                timeline.add(Timeline.Kind.ALL_REDUCE, "all-reduce", -1, t0, System.nanoTime());
            }
        }
        long t0 = System.nanoTime();
        for (Parameter p : params) {
            NDArray w = p.getArray();
            try (NDArray g = w.getGradient()) {
                optimizer.update(p.getId(), w, g);
            }
        }
        long t1 = System.nanoTime();
        if (timeline != null) {
            timeline.add(Timeline.Kind.UPDATE, "update", -1, t0, t1);
        }
        last = new StepTimes(dp[0], dp[1], (t1 - t0) / 1e6);
    }

    /** Where the last {@link #step()} spent its time, in milliseconds. */
    public record StepTimes(double copyMillis, double allReduceMillis, double updateMillis) {
    }

    private volatile StepTimes last = new StepTimes(0, 0, 0);
    private float[] flatBuffer;

    /** Timing of the last {@link #step()}: gradient copies out/in, the all-reduce itself, the optimizer update. */
    public StepTimes lastStepTimes() {
        return last;
    }

    /**
     * Averages the gradients over the data-parallel group through one flat buffer. Returns {copy ms, all-reduce ms}.
     *
     * <p>Copies: a contiguous gradient is read and written back through a direct view of its memory (one pass each
     * way); a non-contiguous one (autograd may produce those) is read through DJL's contiguous copy and written back
     * with in-place arithmetic, which respects its layout (NDArray.set's raw copy would not).
     */
    private double[] averageOverReplicas(Smp smp, List<Parameter> params) {
        long t0 = System.nanoTime();
        int total = 0;
        for (Parameter p : params) {
            total += Math.toIntExact(p.getArray().size());
        }
        // Reused: a fresh 45 MB array per step costs a zeroing pass and G1 humongous allocations.
        if (flatBuffer == null || flatBuffer.length != total) {
            flatBuffer = new float[total];
        }
        float[] flat = flatBuffer;
        NDArray[] grads = new NDArray[params.size()];
        java.nio.FloatBuffer[] views = new java.nio.FloatBuffer[params.size()];
        try {
            int at = 0;
            for (int i = 0; i < grads.length; i++) {
                NDArray grad = grads[i] = params.get(i).getArray().getGradient();
                try (ai.djl.ndarray.NDManager scratch = grad.getManager().newSubManager()) {
                    // DJL attaches a contiguous copy, if it has to make one, to the array's manager: scratch.
                    grad.tempAttach(scratch);
                    int before = scratch.getManagedArrays().size(); // the gradient itself
                    java.nio.FloatBuffer g = grad.toByteBuffer(true).asFloatBuffer();
                    if (scratch.getManagedArrays().size() == before) {
                        views[i] = g.duplicate(); // no copy was made: a view of the gradient itself
                    }
                    int n = g.remaining();
                    g.get(flat, at, n);
                    at += n;
                }
            }
            long t1 = System.nanoTime();
            if (LOG.isDebugEnabled()) {
                long direct = java.util.Arrays.stream(views).filter(java.util.Objects::nonNull).count();
                LOG.debug("averaging {} gradients ({} floats): {} through direct views, {} through copies; read in "
                        + "{} ms", grads.length, total, direct, grads.length - direct, (t1 - t0) / 1e6);
            }
            smp.dataParallelGroup().allReduce(flat, ReduceOp.AVERAGE);
            long t2 = System.nanoTime();
            at = 0;
            for (int i = 0; i < grads.length; i++) {
                NDArray g = grads[i];
                int n = Math.toIntExact(g.size());
                if (views[i] != null) {
                    views[i].clear();
                    views[i].put(flat, at, n);
                } else {
                    try (NDArray avg = g.getManager().create(java.nio.FloatBuffer.wrap(flat, at, n), g.getShape())) {
                        g.subi(g).addi(avg);
                    }
                }
                at += n;
            }
            long t3 = System.nanoTime();
            return new double[] {(t1 - t0 + t3 - t2) / 1e6, (t2 - t1) / 1e6};
        } finally {
            for (NDArray g : grads) {
                if (g != null) {
                    g.close();
                }
            }
        }
    }
}
