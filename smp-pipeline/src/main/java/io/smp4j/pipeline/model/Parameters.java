package io.smp4j.pipeline.model;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import io.smp4j.pipeline.djl.DjlInternals;
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
                DjlInternals.zeroGradient(p.getArray());
            }
        }
    }

    /**
     * The initialised arrays of {@code block} that training changes without gradients (batch normalisation's running
     * mean and variance): what a training forward writes in place.
     */
    public static List<NDArray> untrainedArrays(Block block) {
        List<NDArray> out = new ArrayList<>();
        for (Parameter p : of(block)) {
            if (p.isInitialized() && !p.requiresGradient()) {
                out.add(p.getArray());
            }
        }
        return out;
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
            DjlInternals.overwrite(params.get(i).getArray(), values.get(i));
        }
    }

    /**
     * The largest relative difference between two aligned parameter lists: per tensor, the largest element-wise
     * difference divided by the largest magnitude of {@code reference}'s tensor. Used to prove distributed runs equal
     * to unsplit ones.
     */
    public static double maxRelativeDifference(List<Parameter> actual, List<Parameter> reference) {
        if (actual.size() != reference.size()) {
            throw new IllegalArgumentException(actual.size() + " parameters against " + reference.size());
        }
        double worst = 0;
        for (int i = 0; i < actual.size(); i++) {
            float[] x = actual.get(i).getArray().toFloatArray();
            float[] y = reference.get(i).getArray().toFloatArray();
            double diff = 0;
            double scale = 1e-12;
            for (int k = 0; k < x.length; k++) {
                diff = Math.max(diff, Math.abs(x[k] - y[k]));
                scale = Math.max(scale, Math.abs(y[k]));
            }
            worst = Math.max(worst, diff / scale);
        }
        return worst;
    }
}
