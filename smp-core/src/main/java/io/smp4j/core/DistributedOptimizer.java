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
        if (smp.config().ddp() && smp.dpSize() > 1) {
            long t0 = System.nanoTime();
            averageOverReplicas(smp, params);
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
        if (timeline != null) {
            timeline.add(Timeline.Kind.UPDATE, "update", -1, t0, System.nanoTime());
        }
    }

    private static void averageOverReplicas(Smp smp, List<Parameter> params) {
        int total = 0;
        for (Parameter p : params) {
            total += Math.toIntExact(p.getArray().size());
        }
        float[] flat = new float[total];
        int at = 0;
        for (Parameter p : params) {
            try (NDArray grad = p.getArray().getGradient()) {
                float[] g = grad.toFloatArray();
                System.arraycopy(g, 0, flat, at, g.length);
                at += g.length;
            }
        }
        smp.dataParallelGroup().allReduce(flat, ReduceOp.AVERAGE);
        at = 0;
        for (Parameter p : params) {
            try (NDArray g = p.getArray().getGradient()) {
                int n = Math.toIntExact(g.size());
                // In-place arithmetic, which respects the gradient's memory layout (autograd may produce gradients
                // that NDArray.set's raw copy would overrun). Gradients are not leaves, so grad mode does not matter.
                try (NDArray avg = g.getManager().create(java.util.Arrays.copyOfRange(flat, at, at + n),
                        g.getShape())) {
                    g.subi(g).addi(avg);
                }
                at += n;
            }
        }
    }
}
