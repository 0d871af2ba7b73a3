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
 * Measures each unit on one sample microbatch, on the sample's device and in this process's threads (the conditions
 * of training): forward + backward time (median of a few runs after warm-up runs, the device synchronised before each
 * clock read), parameter count and bytes, output bytes. Units pass lists of arrays along, as the pipeline does. Leaves the model
 * as it found it: parameter values (BatchNorm running statistics included) are restored and gradients zeroed.
 * A unit that cannot take its predecessor's output is an {@link IllegalArgumentException} naming both.
 */
public final class CostProfiler {
    private CostProfiler() {
    }

    /** Warm-up runs per unit before the timed ones (first calls pay for allocation and kernel selection). */
    static final int WARMUP = 2;

    public static List<UnitCost> profile(Block model, List<ModelUnits.Unit> units, NDList sample, int repeats,
                                         Runnable synchronize) {
        List<float[]> saved = Parameters.snapshot(model);
        List<UnitCost> costs = new ArrayList<>();
        try (NDManager scope = sample.head().getManager().newSubManager()) {
            ParameterStore ps = new ParameterStore(scope, false);
            NDList x = NDLists.copy(sample, scope);
            for (int u = 0; u < units.size(); u++) {
                ModelUnits.Unit unit = units.get(u);
                double[] times = new double[repeats];
                NDList out = null;
                for (int r = -WARMUP; r < repeats; r++) {
                    try (NDManager trial = scope.newSubManager()) {
                        NDList in = NDLists.copy(x, trial);
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
                            if (r == repeats - 1) {
                                out = new NDList();
                                for (NDArray a : o) {
                                    out.add(a.stopGradient());
                                }
                                out.attach(scope);
                            }
                        }
                        synchronize.run();
                        if (r >= 0) {
                            times[r] = (System.nanoTime() - t0) / 1e6;
                        }
                    }
                }
                long params = 0;
                long paramBytes = 0;
                for (Parameter p : Parameters.of(unit.block())) {
                    params += p.getArray().size();
                    paramBytes += p.getArray().size() * p.getArray().getDataType().getNumOfBytes();
                }
                Arrays.sort(times);
                long outBytes = TensorCodec.Header.of(out).dataBytes();
                costs.add(new UnitCost(unit.name(), times[repeats / 2], params, paramBytes, outBytes));
                x = out;
            }
        } finally {
            Parameters.restore(model, saved);
            Parameters.zeroGradients(model);
        }
        return costs;
    }
}
