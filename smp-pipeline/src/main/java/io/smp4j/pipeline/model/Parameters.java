package io.smp4j.pipeline.model;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import java.util.ArrayList;
import java.util.List;

/** Helpers over a block's parameters (DJL accumulates gradients across backward calls; these reset them). */
public final class Parameters {
    private Parameters() {
    }

    public static List<Parameter> of(Block block) {
        List<Parameter> out = new ArrayList<>();
        for (Pair<String, Parameter> p : block.getParameters()) {
            out.add(p.getValue());
        }
        return out;
    }

    /** Sets every gradient of {@code block} to zero (parameters without gradients, e.g. running stats, skipped). */
    public static void zeroGradients(Block block) {
        for (Parameter p : of(block)) {
            if (p.isInitialized() && p.getArray().hasGradient()) {
                NDArray g = p.getArray().getGradient();
                g.subi(g);
            }
        }
    }

    /** A copy of every parameter value (running statistics included), to undo side effects of a trial run. */
    public static List<float[]> snapshot(Block block) {
        List<float[]> values = new ArrayList<>();
        for (Parameter p : of(block)) {
            values.add(p.getArray().toFloatArray());
        }
        return values;
    }

    public static void restore(Block block, List<float[]> values) {
        List<Parameter> params = of(block);
        for (int i = 0; i < params.size(); i++) {
            copyInto(params.get(i).getArray(), values.get(i));
        }
    }

    /**
     * Overwrites {@code target}'s values in place, in memory the engine owns. Replacing arrays (DJL's
     * loadParameters does) would leave the copies a ParameterStore holds stale and drop the gradient request; an
     * array made from a Java array is backed by memory only its Java object keeps alive, so it is used and closed.
     */
    public static void copyInto(NDArray target, float[] values) {
        if (values.length != target.size()) {
            throw new IllegalArgumentException(values.length + " values for an array of shape " + target.getShape());
        }
        try (NDArray tmp = target.getManager().create(values, target.getShape())) {
            target.subi(target).addi(tmp);
        }
    }
}
