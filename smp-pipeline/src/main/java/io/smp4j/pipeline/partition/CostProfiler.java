package io.smp4j.pipeline.partition;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import io.smp4j.pipeline.model.Materializer;
import io.smp4j.pipeline.model.ModelUnits;
import io.smp4j.pipeline.model.NDLists;
import io.smp4j.pipeline.model.Parameters;
import io.smp4j.pipeline.wire.TensorCodec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

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

    /**
     * What profiling found.
     *
     * @param costs  per unit, in order
     * @param inputs per unit, the types and shapes of its input on the sample microbatch
     * @param output the types and shapes of the last unit's output: the model's
     */
    public record Profile(List<UnitCost> costs, List<TensorCodec.Header> inputs, TensorCodec.Header output) {
    }

    /** {@link #measure} for costs only. */
    public static List<UnitCost> profile(Block model, List<ModelUnits.Unit> units, NDList sample, int repeats,
                                         Runnable synchronize) {
        return measure(model, units, sample, repeats, synchronize).costs();
    }

    /**
     * Profiles an initialised model's units. With {@code repeats} 0 nothing is timed (times 0): what a plan of one stage
     * needs (shapes and bytes only).
     */
    public static Profile measure(Block model, List<ModelUnits.Unit> units, NDList sample, int repeats,
                                  Runnable synchronize) {
        List<float[]> saved = Parameters.snapshot(model);
        List<UnitCost> costs = new ArrayList<>();
        List<TensorCodec.Header> headers = new ArrayList<>();
        TensorCodec.Header output;
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
            double[][] times = new double[units.size()][Math.max(1, repeats)];
            for (int r = repeats == 0 ? 0 : -WARMUP; r < repeats; r++) {
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
                headers.add(TensorCodec.Header.of(inputs[u]));
            }
            output = TensorCodec.Header.of(inputs[units.size()]);
        } finally {
            Parameters.restore(model, saved);
            Parameters.zeroGradients(model);
        }
        return new Profile(costs, headers, output);
    }

    /**
     * Profiles the units of a model that is not initialised (delayed initialisation), one unit at a time: materialise
     * it on {@code sample}'s device ({@link Materializer}: each parameter from its seeded initializer), run it on the
     * previous unit's output, time forward + backward ({@code repeats} times after {@link #WARMUP}), release it. At
     * most one unit's parameters and two units' activations are held at once. Units of one kind (block class,
     * parameter shapes, input types and shapes: a transformer's repeated layers) are timed once.
     */
    public static Profile measureDelayed(List<ModelUnits.Unit> units, NDList sample, int repeats,
                                         Runnable synchronize) {
        List<UnitCost> costs = new ArrayList<>();
        List<TensorCodec.Header> headers = new ArrayList<>();
        Map<String, Double> timed = new HashMap<>();
        NDManager device = sample.head().getManager();
        try (NDManager scope = device.newSubManager()) {
            ParameterStore ps = new ParameterStore(scope, false);
            NDList input = NDLists.copy(sample, scope);
            for (int u = 0; u < units.size(); u++) {
                ModelUnits.Unit unit = units.get(u);
                TensorCodec.Header in = TensorCodec.Header.of(input);
                headers.add(in);
                boolean mine = Materializer.released(unit);
                Materializer.materialize(unit, scope, DataType.FLOAT32, input.getShapes());
                try {
                    long params = 0;
                    long paramBytes = 0;
                    StringBuilder kind = new StringBuilder(unit.block().getClass().getName()).append(in.shapes())
                            .append(in.types());
                    for (Parameter p : Parameters.of(unit.block())) {
                        params += p.getArray().size();
                        paramBytes += p.getArray().size() * p.getArray().getDataType().getNumOfBytes();
                        kind.append(p.getShape());
                    }
                    NDList out;
                    try (NDManager step = scope.newSubManager()) {
                        out = ModelUnits.forward(units, u, ps, NDLists.copy(input, step), true);
                        out = NDLists.copy(out, scope);
                    }
                    double ms = 0;
                    if (repeats > 0) {
                        Double known = timed.get(kind.toString());
                        if (known == null) {
                            double[] t = new double[repeats];
                            for (int r = -WARMUP; r < repeats; r++) {
                                double v = time(units, u, ps, input, scope, synchronize);
                                if (r >= 0) {
                                    t[r] = v;
                                }
                            }
                            Arrays.sort(t);
                            known = t[repeats / 2];
                            timed.put(kind.toString(), known);
                        }
                        ms = known;
                    }
                    costs.add(new UnitCost(unit.name(), ms, params, paramBytes,
                            TensorCodec.Header.of(out).dataBytes()));
                    input.close();
                    input = out;
                } finally {
                    if (mine) {
                        Materializer.release(unit);
                    }
                }
            }
            return new Profile(costs, headers, TensorCodec.Header.of(input));
        }
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
