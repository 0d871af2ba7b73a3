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
import io.smp4j.pipeline.model.Parameters;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Measures each unit on one sample microbatch: forward + backward time (median of a few runs after a warm-up),
 * parameter count and bytes, output bytes. Leaves the model as it found it: parameter values (BatchNorm running
 * statistics included) are restored and gradients zeroed afterwards.
 */
public final class CostProfiler {
    private CostProfiler() {
    }

    public static List<UnitCost> profile(Block model, List<ModelUnits.Unit> units, NDList sample, int repeats) {
        List<float[]> saved = Parameters.snapshot(model);
        List<UnitCost> costs = new ArrayList<>();
        try (NDManager scope = sample.head().getManager().newSubManager()) {
            ParameterStore ps = new ParameterStore(scope, false);
            NDList x = new NDList(sample.head().duplicate());
            x.attach(scope);
            for (ModelUnits.Unit unit : units) {
                double[] times = new double[repeats];
                NDList out = null;
                for (int r = -1; r < repeats; r++) {
                    try (NDManager trial = scope.newSubManager()) {
                        NDArray in = x.head().duplicate();
                        in.attach(trial);
                        long t0 = System.nanoTime();
                        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                            in.setRequiresGradient(true);
                            NDList o = unit.block().forward(ps, new NDList(in), true);
                            gc.backward(o.head().sum());
                            if (r == repeats - 1) {
                                out = new NDList(o.head().stopGradient());
                                out.attach(scope);
                            }
                        }
                        if (r >= 0) {
                            times[r] = (System.nanoTime() - t0) / 1e6;
                        }
                    }
                }
                long params = 0;
                for (Parameter p : Parameters.of(unit.block())) {
                    params += p.getArray().size();
                }
                Arrays.sort(times);
                costs.add(new UnitCost(unit.name(), times[repeats / 2], params, params * 4, out.head().size() * 4));
                x = out;
            }
        } finally {
            Parameters.restore(model, saved);
            Parameters.zeroGradients(model);
        }
        return costs;
    }
}
