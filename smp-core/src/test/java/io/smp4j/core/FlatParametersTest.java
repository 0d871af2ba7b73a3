package io.smp4j.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import io.smp4j.pipeline.djl.DjlInternals;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Flat parameters against DJL's own update, parameter by parameter: the same weights and optimizer state after every
 * step, bitwise, for SGD (momentum, weight decay) and Adam; the optimizer state stays checkpointable per parameter, and
 * state put there from a checkpoint is adopted.
 */
class FlatParametersTest {
    private static final Shape[] SHAPES = {new Shape(3, 5), new Shape(7), new Shape(64), new Shape(2, 2, 2), new Shape(1)};

    private static List<Parameter> params(NDManager m, long seed) {
        Random r = new Random(seed);
        List<Parameter> out = new ArrayList<>();
        for (int i = 0; i < SHAPES.length; i++) {
            Parameter p = Parameter.builder().setName("p" + i).setType(Parameter.Type.WEIGHT).build();
            float[] v = new float[(int) SHAPES[i].size()];
            for (int k = 0; k < v.length; k++) {
                v[k] = (float) r.nextGaussian();
            }
            NDArray a = m.create(v, SHAPES[i]);
            a.setRequiresGradient(true);
            p.setArray(a);
            out.add(p);
        }
        return out;
    }

    /** A backward of a loss that gives every parameter a gradient depending on step and weights. */
    private static void backward(NDManager m, List<Parameter> params, int step) {
        try (NDManager scope = m.newSubManager(); GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray loss = null;
            for (int i = 0; i < params.size(); i++) {
                NDArray w = params.get(i).getArray();
                NDArray t = w.mul(w).mul(DjlInternals.scalar(scope, 0.5f + step + i)).sin().sum();
                t.attach(scope);
                loss = loss == null ? t : loss.add(t);
            }
            gc.backward(loss);
        }
    }

    private static void perParameter(Optimizer o, List<Parameter> params) {
        for (Parameter p : params) {
            try (NDArray g = DjlInternals.gradient(p.getArray())) {
                o.update(p.getId(), p.getArray(), g);
            }
        }
    }

    private static void assertSameValues(List<Parameter> a, List<Parameter> b, String what) {
        for (int i = 0; i < a.size(); i++) {
            assertArrayEquals(a.get(i).getArray().toFloatArray(), b.get(i).getArray().toFloatArray(), what + " p" + i);
        }
    }

    private static void assertSameState(Optimizer x, List<Parameter> a, Optimizer y, List<Parameter> b) {
        Map<String, Map<String, Map<Device, NDArray>>> sx = DjlInternals.optimizerState(x);
        Map<String, Map<String, Map<Device, NDArray>>> sy = DjlInternals.optimizerState(y);
        for (String field : sx.keySet()) {
            for (int i = 0; i < a.size(); i++) {
                Map<Device, NDArray> ex = sx.get(field).get(a.get(i).getId());
                Map<Device, NDArray> ey = sy.get(field).get(b.get(i).getId());
                assertEquals(ex == null, ey == null, field + " of p" + i);
                if (ex != null) {
                    assertArrayEquals(ex.values().iterator().next().toFloatArray(),
                            ey.values().iterator().next().toFloatArray(), field + " of p" + i);
                }
            }
        }
        assertEquals(DjlInternals.updateCounts(x).get(a.get(0).getId()),
                DjlInternals.updateCounts(y).get(b.get(0).getId()));
    }

    private static void equalsPerParameter(Supplier<Optimizer> make) {
        equalsPerParameter(make, FlatParameters.group(ai.djl.Device.cpu()), false);
    }

    /**
     * {@code group}: update groups of at most that many elements; {@code whole}: the update gets the whole flat gradient
     * (as after a data-parallel average), else each group concatenates its own.
     */
    private static void equalsPerParameter(Supplier<Optimizer> make, long group, boolean whole) {
        try (NDManager m = NDManager.newBaseManager()) {
            List<Parameter> ref = params(m, 7);
            List<Parameter> flat = params(m, 7);
            Optimizer refOpt = make.get();
            Optimizer flatOpt = make.get();
            FlatParameters f = null;
            for (int step = 0; step < 4; step++) {
                backward(m, ref, step);
                backward(m, flat, step);
                perParameter(refOpt, ref);
                if (f == null) {
                    perParameter(flatOpt, flat); // the first step runs per parameter, as DistributedOptimizer's does
                    f = FlatParameters.of(flat, m, flatOpt, group);
                    assertTrue(f.covers(flat));
                } else {
                    assertTrue(f.countsAgree(flatOpt));
                    try (NDManager scope = m.newSubManager()) {
                        f.update(flatOpt, whole ? f.gradients(scope) : null);
                    }
                }
                assertSameValues(ref, flat, "weights after step " + step);
                assertSameState(refOpt, ref, flatOpt, flat);
            }
            // The weights are views of the flat buffer: one update moved them all.
            assertEquals(f.size() % FlatParameters.ALIGN, 0);
            float[] all = f.weights().toFloatArray();
            float[] first = flat.get(0).getArray().toFloatArray();
            assertArrayEquals(first, java.util.Arrays.copyOfRange(all, 0, first.length));
        }
    }

    @Test
    void sgdWithMomentumAndWeightDecayEqualsDjlsUpdatePerParameter() {
        equalsPerParameter(() -> Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.05f)).optMomentum(0.9f)
                .optWeightDecays(0.01f).build());
    }

    /**
     * Plain SGD (no weight decay, rescaling or clipping) is updated in place by smp4j ({@code DjlInternals.sgdStep}),
     * not by DJL's native update: still bitwise DJL's, with a learning rate that changes every update (the tracker
     * asked with DJL's update counts), with and without momentum, in one group and in several, with each group's own
     * gradients or slices of the whole flat gradient.
     */
    @Test
    void plainSgdInPlaceEqualsDjlsUpdatePerParameter() {
        Supplier<Optimizer> momentum = () -> Optimizer.sgd().setLearningRateTracker(
                Tracker.factor().setBaseValue(0.05f).setFactor(0.7f).build()).optMomentum(0.9f).build();
        Supplier<Optimizer> plain = () -> Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.05f)).build();
        for (Supplier<Optimizer> make : List.of(momentum, plain)) {
            try (NDManager m = NDManager.newBaseManager()) {
                NDArray w = m.create(new float[] {1, 2});
                assertNotNull(DjlInternals.sgdStep(make.get(), "w", w), "the in-place path is the one tested");
            }
            equalsPerParameter(make);
            equalsPerParameter(make, 50, false);
            equalsPerParameter(make, 50, true);
        }
    }

    @Test
    void adamEqualsDjlsUpdatePerParameter() {
        equalsPerParameter(() -> Optimizer.adam().optLearningRateTracker(Tracker.fixed(0.01f)).build());
    }

    /**
     * Updates in groups (here of at most 50 elements: each slot its own group, the 64-element parameter larger than that)
     * equal DJL's update per parameter, with each group's own gradients or with slices of the whole flat gradient.
     */
    @Test
    void updatesInGroupsEqualDjlsUpdatePerParameter() {
        for (boolean whole : new boolean[] {false, true}) {
            equalsPerParameter(() -> Optimizer.adam().optLearningRateTracker(Tracker.fixed(0.01f)).build(), 50, whole);
            equalsPerParameter(() -> Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.05f)).optMomentum(0.9f)
                    .optWeightDecays(0.01f).build(), 50, whole);
        }
    }

    /**
     * The optimizer state of flat parameters is written per parameter (the checkpoint format), and state applied from a
     * checkpoint replaces the flat state before the next update: the run goes on as one that never stopped. In one
     * update group, and in one per parameter (each group's flat state adopts its parameters' loaded state).
     */
    @Test
    void checkpointedStateIsPerParameterAndAdoptedWhenLoaded() throws Exception {
        checkpointedStateIsAdopted(FlatParameters.group(ai.djl.Device.cpu()));
        checkpointedStateIsAdopted(50);
    }

    private static void checkpointedStateIsAdopted(long group) throws Exception {
        Supplier<Optimizer> make = () -> Optimizer.adam().optLearningRateTracker(Tracker.fixed(0.01f)).build();
        try (NDManager m = NDManager.newBaseManager()) {
            List<Parameter> ref = params(m, 3);
            List<Parameter> flat = params(m, 3);
            Optimizer refOpt = make.get();
            Optimizer flatOpt = make.get();
            backward(m, ref, 0);
            perParameter(refOpt, ref);
            backward(m, flat, 0);
            perParameter(flatOpt, flat);
            FlatParameters f = FlatParameters.of(flat, m, flatOpt, group);
            // Each parameter's state entry is now a view of the flat state.
            NDArray mean = DjlInternals.optimizerState(flatOpt).values().iterator().next()
                    .get(flat.get(1).getId()).values().iterator().next();
            assertEquals(SHAPES[1], mean.getShape());
            ByteArrayOutputStream saved = new ByteArrayOutputStream();
            OptimizerState.write(flatOpt, flat, new DataOutputStream(saved));
            for (int step = 1; step < 3; step++) {
                backward(m, ref, step);
                perParameter(refOpt, ref);
                backward(m, flat, step);
                f.update(flatOpt, null);
            }
            // Load the step-1 state back: the flat state must be replaced, not the stale views kept.
            OptimizerState.Loaded loaded = OptimizerState.read(flatOpt, flat,
                    new DataInputStream(new ByteArrayInputStream(saved.toByteArray())));
            OptimizerState.apply(flatOpt, flat, loaded, m);
            List<Parameter> again = params(m, 3);
            Optimizer againOpt = make.get();
            backward(m, again, 0);
            perParameter(againOpt, again);
            OptimizerState.apply(againOpt, again, loaded, m);
            for (int i = 0; i < flat.size(); i++) {
                DjlInternals.overwrite(again.get(i).getArray(), flat.get(i).getArray().toFloatArray());
            }
            backward(m, again, 9);
            perParameter(againOpt, again);
            backward(m, flat, 9);
            try (NDManager scope = m.newSubManager()) {
                f.update(flatOpt, f.gradients(scope));
            }
            assertSameValues(again, flat, "after the loaded state");
            assertSameState(againOpt, again, flatOpt, flat);
        }
    }

    /** overwrite (a checkpoint's values) writes into the flat buffer: the parameter stays a view of it. */
    @Test
    void overwritingAParameterWritesIntoTheFlatBuffer() {
        try (NDManager m = NDManager.newBaseManager()) {
            List<Parameter> flat = params(m, 5);
            Optimizer o = Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.1f)).build();
            FlatParameters f = FlatParameters.of(flat, m, o);
            NDArray view = flat.get(1).getArray();
            DjlInternals.overwrite(view, new float[] {1, 2, 3, 4, 5, 6, 7});
            assertSame(view, flat.get(1).getArray());
            long at = (SHAPES[0].size() + FlatParameters.ALIGN - 1) / FlatParameters.ALIGN * FlatParameters.ALIGN;
            float[] all = f.weights().toFloatArray();
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6, 7}, java.util.Arrays.copyOfRange(all, (int) at,
                    (int) at + 7));
        }
    }

    @Test
    void onlyDjlsElementwiseOptimizersOnFloat32Parameters() {
        try (NDManager m = NDManager.newBaseManager()) {
            List<Parameter> ps = params(m, 1);
            assertNull(FlatParameters.whyNot(Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.1f)).build(), ps));
            assertNull(FlatParameters.whyNot(Optimizer.adamW().build(), ps));
            Optimizer nag = Optimizer.nag().setLearningRateTracker(Tracker.fixed(0.1f)).setMomentum(0.9f).build();
            assertNotNull(FlatParameters.whyNot(nag, ps));
            Parameter half = Parameter.builder().setName("h").setType(Parameter.Type.WEIGHT).build();
            half.setArray(m.zeros(new Shape(2), DataType.FLOAT16));
            List<Parameter> mixed = new ArrayList<>(ps);
            mixed.add(half);
            String why = FlatParameters.whyNot(Optimizer.adam().build(), mixed);
            assertNotNull(why);
            assertTrue(why.contains("float16"), why);
            assertFalse(why.isEmpty());
            NDArray before = ps.get(0).getArray();
            FlatParameters f = FlatParameters.of(ps, m, Optimizer.adam().build());
            assertNotSame(before, ps.get(0).getArray());
            assertTrue(f.covers(ps));
            assertFalse(f.covers(ps.subList(1, ps.size())));
        }
    }
}
