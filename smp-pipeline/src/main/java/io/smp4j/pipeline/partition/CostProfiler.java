package io.smp4j.pipeline.partition;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import io.smp4j.pipeline.model.ModelUnits;
import io.smp4j.pipeline.model.NDLists;
import io.smp4j.pipeline.model.Parameters;
import io.smp4j.pipeline.wire.TensorCodec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Measures each unit on one sample microbatch, in the conditions of training: on the sample's device, in this
 * process's threads, with the microbatch size training uses, after warm-up. Forward + backward time per unit is the
 * median over rounds, each round a sweep over all units (the device synchronised before each clock read), so that a
 * slow spell of a shared machine lands on every unit of a round rather than on the few measured during it. Also
 * parameter count and bytes, output bytes. Units pass lists of arrays along, as the pipeline does. Leaves the model
 * as it found it: parameter values (BatchNorm running statistics included) are restored and gradients zeroed.
 * A unit that cannot take its predecessor's output is an {@link IllegalArgumentException} naming both.
 */
public final class CostProfiler {
    private CostProfiler() {
    }

    /** Warm-up sweeps before the timed ones (first calls pay for allocation and kernel selection). */
    static final int WARMUP = 3;

    public static List<UnitCost> profile(Block model, List<ModelUnits.Unit> units, NDList sample, int repeats,
                                         Runnable synchronize) {
        List<float[]> saved = Parameters.snapshot(model);
        List<UnitCost> costs = new ArrayList<>();
        try (NDManager scope = sample.head().getManager().newSubManager()) {
            ParameterStore ps = new ParameterStore(scope, false);
            // Every unit's input: one training-mode forward through all units (outside a gradient collector: no graph).
            NDList[] inputs = new NDList[units.size() + 1];
            inputs[0] = NDLists.copy(sample, scope);
            for (int u = 0; u < units.size(); u++) {
                NDList out = ModelUnits.forward(units, u, ps, inputs[u], true);
                out.attach(scope);
                inputs[u + 1] = out;
            }
            double[][] times = new double[units.size()][repeats];
            for (int r = -WARMUP; r < repeats; r++) {
                for (int u = 0; u < units.size(); u++) {
                    double ms = time(units, u, ps, inputs[u], scope, synchronize);
                    if (r >= 0) {
                        times[u][r] = ms;
                    }
                }
            }
            for (int u = 0; u < units.size(); u++) {
                long params = 0;
                long paramBytes = 0;
                for (Parameter p : Parameters.of(units.get(u).block())) {
                    params += p.getArray().size();
                    paramBytes += p.getArray().size() * p.getArray().getDataType().getNumOfBytes();
                }
                Arrays.sort(times[u]);
                long outBytes = TensorCodec.Header.of(inputs[u + 1]).dataBytes();
                costs.add(new UnitCost(units.get(u).name(), times[u][repeats / 2], params, paramBytes, outBytes));
            }
        } finally {
            Parameters.restore(model, saved);
            Parameters.zeroGradients(model);
        }
        return costs;
    }

    /** Milliseconds of one forward + backward of unit {@code u} on a copy of {@code input}. */
    private static double time(List<ModelUnits.Unit> units, int u, ParameterStore ps, NDList input, NDManager scope,
                               Runnable synchronize) {
        try (NDManager trial = scope.newSubManager()) {
            NDList in = NDLists.copy(input, trial);
            synchronize.run();
            long t0 = System.nanoTime();
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                for (NDArray a : in) {
                    if (a.getDataType().isFloating()) {
                        a.setRequiresGradient(true);
                    }
                }
                NDList o = ModelUnits.forward(units, u, ps, in, true);
                NDArray target = null;
                for (NDArray a : o) {
                    if (a.getDataType().isFloating()) {
                        target = target == null ? a.sum() : target.add(a.sum());
                    }
                }
                if (target != null) {
                    gc.backward(target);
                }
            }
            synchronize.run();
            return (System.nanoTime() - t0) / 1e6;
        }
    }
}
