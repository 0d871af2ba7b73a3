package io.smp4j.core;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import io.smp4j.pipeline.djl.DjlInternals;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Half precision ({@code bf16} / {@code fp16}) with fp32 master weights, as SageMaker's and PyTorch's mixed precision
 * keep them. The parameters stay fp32 (what the optimizer updates, checkpoints save, re-partitioning moves and the
 * data-parallel all-reduce averages); the stage computes with half-precision copies of them, made once per step from
 * the masters when the stage first reads a parameter, as a leaf of their own: the step's gradients accumulate there in
 * half precision over the microbatches and are added into the masters' fp32 gradients (unscaled, for fp16) before the
 * optimizer step. Activations and the messages between stages are half precision; the model's output is cast to fp32
 * on the last stage, so the loss is computed in fp32.
 *
 * <p>Where the masters are flat ({@link FlatParameters}, given by {@link #useFlat}), a step's copies are one cast of the
 * flat buffer, a view per parameter, and their gradients reach the update as one flat fp32 array
 * ({@link #flatGradients}): a few kernels a step instead of several per parameter (on a GPU the CPU must stay ahead of
 * the kernels). The values are those of the copies made one by one.
 *
 * <p>Parameters that do not train (batch-norm running statistics) are used as they are, in fp32.
 */
final class HalfPrecision extends ParameterStore {
    private final DataType half;
    private final NDManager copies;
    private final Map<Parameter, Copy> byParameter = new IdentityHashMap<>();
    private long step;
    /** The masters' flat buffer (null: none, copies one by one), its copy for step {@code flatStep} and their scope. */
    private FlatParameters flat;
    private List<NDArray> flatCopies;
    private NDManager flatScope;
    private long flatStep = -1;

    /** {@code flat}: the copy is a view of this step's one cast of the flat masters (closed with it). */
    private record Copy(NDArray array, long step, boolean flat) {
    }

    HalfPrecision(NDManager manager, DataType half) {
        super(manager, false);
        this.half = half;
        this.copies = manager.newSubManager();
    }

    DataType type() {
        return half;
    }

    /** A new step: the next read of each parameter makes a fresh half-precision copy of its master. */
    void beginStep() {
        step++;
    }

    /**
     * The masters' flat buffer for the steps that follow (null: none): a parameter whose array is still its view there
     * is copied as part of one cast of the whole buffer.
     */
    void useFlat(FlatParameters masters) {
        if (masters != flat) {
            flat = masters;
            flatStep = -1;
        }
    }

    @Override
    public NDArray getValue(Parameter parameter, Device device, boolean training) {
        NDArray master = parameter.getArray();
        if (!parameter.requiresGradient() || master.getDataType() != DataType.FLOAT32) {
            return master;
        }
        Copy c = byParameter.get(parameter);
        if (c == null || c.step() != step) {
            if (c != null && !c.flat()) {
                c.array().close();
            }
            int slot = flat == null ? -1 : flat.slotOf(parameter);
            if (slot >= 0) {
                c = new Copy(flatCopies().get(slot), step, true);
            } else {
                NDArray h;
                try (DjlInternals.GradMode off = DjlInternals.withoutGradients()) {
                    h = master.toType(half, true);
                }
                h.attach(copies);
                h.setRequiresGradient(true);
                c = new Copy(h, step, false);
            }
            byParameter.put(parameter, c);
        }
        return c.array();
    }

    /** This step's copy of the flat masters, a view per slot: made at the step's first read of a flat parameter. */
    private List<NDArray> flatCopies() {
        if (flatStep != step) {
            if (flatScope != null) {
                flatScope.close(); // the last step's copy
            }
            flatScope = copies.newSubManager();
            flatCopies = flat.castViews(half, flatScope);
            flatStep = step;
        }
        return flatCopies;
    }

    /**
     * This step's half-precision gradients times {@code factor} (1 / loss scale) as one flat fp32 array in the slots of
     * {@code masters}, attached to {@code scope}: what the flat update takes in place of the masters' own gradients.
     * Null unless this step's copies were made from {@code masters} ({@link #useFlat}): then use {@link
     * #gradientsToMasters}.
     */
    NDArray flatGradients(FlatParameters masters, NDManager scope, float factor) {
        if (masters != flat || flatStep != step) {
            return null;
        }
        try (DjlInternals.GradMode off = DjlInternals.withoutGradients();
             NDArray h = flat.gradientsOf(flatCopies, scope)) {
            NDArray g = h.toType(DataType.FLOAT32, false);
            g.attach(scope);
            if (factor != 1f) {
                g.muli(factor);
            }
            return g;
        }
    }

    /**
     * The masters' gradients receive this precision's gradients, but backward never reaches the masters themselves:
     * give each trainable master a gradient of its own first ({@link DjlInternals#defineGradients}).
     */
    void defineMasterGradients(List<Parameter> params) {
        List<NDArray> trainable = new ArrayList<>();
        for (Parameter p : params) {
            if (p.requiresGradient() && p.getArray().getDataType() == DataType.FLOAT32) {
                trainable.add(p.getArray());
            }
        }
        DjlInternals.defineGradients(trainable);
    }

    /** Floating arrays of {@code list} in half precision (stage 0's model input: no gradient flows back to it). */
    NDList toHalf(NDList list) {
        NDList out = new NDList(list.size());
        for (NDArray a : list) {
            out.add(a.getDataType() == DataType.FLOAT32 ? a.toType(half, false) : a);
        }
        return out;
    }

    /** Half-precision arrays of {@code list} in fp32, on the graph (the model's output, on the last stage). */
    NDList toFloat(NDList list) {
        NDList out = new NDList(list.size());
        for (NDArray a : list) {
            out.add(a.getDataType() == half ? DjlInternals.upcast(a, DataType.FLOAT32) : a);
        }
        return out;
    }

    /**
     * Adds this step's half-precision gradients, times {@code factor} (1 / loss scale), into the fp32 gradients of
     * {@code params}' masters; returns the sum of their magnitudes (infinite or NaN when any overflowed).
     */
    double gradientsToMasters(List<Parameter> params, float factor) {
        NDArray sum = null;
        try (NDManager sums = copies.newSubManager();
             DjlInternals.GradMode off = DjlInternals.withoutGradients()) {
            for (Parameter p : params) {
                Copy c = byParameter.get(p);
                if (c == null || c.step() != step) {
                    continue; // not read this step (or never): no gradient
                }
                // One parameter's temporaries at a time: on a GPU, the caching allocator keeps the peak.
                try (NDManager one = copies.newSubManager()) {
                    NDArray g = DjlInternals.gradient(c.array());
                    g.attach(one);
                    NDArray g32 = g.toType(DataType.FLOAT32, false);
                    g32.attach(one);
                    if (factor != 1f) {
                        g32.muli(factor);
                    }
                    try (NDArray master = DjlInternals.gradient(p.getArray())) {
                        master.addi(g32);
                    }
                    NDArray a = g32.abs().sum();
                    a.attach(sums);
                    sum = sum == null ? a : sum.add(a);
                }
            }
            return sum == null ? 0 : sum.getFloat();
        }
    }

    /** Frees every half-precision copy. */
    void close() {
        byParameter.clear();
        flatStep = -1;
        copies.close();
    }
}
