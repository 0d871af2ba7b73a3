package io.smp4j.pipeline.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * One test per DJL behaviour smp4j relies on (see {@link DjlInternals}): after a DJL upgrade, this class says which
 * assumption broke.
 */
class DjlInternalsTest {
    /**
     * toType leaves autograd's graph (why {@link DjlInternals#upcast} exists), and upcast stays on it: a float32 loss of
     * a float16 parameter backpropagates into it, with the exact gradient.
     */
    @Test
    void toTypeLeavesTheGraphAndUpcastStaysOnIt() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray h = m.create(new float[] {1, -2, 3}).toType(DataType.FLOAT16, false);
            h.setRequiresGradient(true);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray lost = h.mul(h).toType(DataType.FLOAT32, false).sum();
                org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class, () -> gc.backward(lost));
            }
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray up = DjlInternals.upcast(h.mul(h), DataType.FLOAT32);
                assertEquals(DataType.FLOAT32, up.getDataType());
                gc.backward(up.sum());
            }
            assertArrayEquals(new float[] {2, -4, 6}, h.getGradient().toType(DataType.FLOAT32, false).toFloatArray());
        }
        org.junit.jupiter.api.Assertions.assertFalse(DjlInternals.engineHas(DataType.BFLOAT16));
        assertTrue(DjlInternals.engineHas(DataType.FLOAT16));
    }

    /** Before any backward a gradient written through getGradient is lost; after defineGradients it stays. */
    @Test
    void gradientsWrittenBeforeAnyBackwardStayOnlyOnceDefined() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray w = m.create(new float[] {1, 2});
            w.setRequiresGradient(true);
            w.getGradient().addi(m.create(new float[] {3, 4}));
            assertArrayEquals(new float[] {0, 0}, w.getGradient().toFloatArray());
            DjlInternals.defineGradients(java.util.List.of(w));
            assertArrayEquals(new float[] {0, 0}, w.getGradient().toFloatArray());
            w.getGradient().addi(m.create(new float[] {3, 4}));
            assertArrayEquals(new float[] {3, 4}, w.getGradient().toFloatArray());
        }
    }

    /** The loss scale survives garbage collections between forward and backward (NaN gradients otherwise). */
    @Test
    void scalarLivesAsLongAsItsScope() {
        try (NDManager m = NDManager.newBaseManager(); NDManager scope = m.newSubManager()) {
            NDArray x = scope.create(new float[] {1, 2, 3});
            x.setRequiresGradient(true);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray target = x.mul(x).sum().mul(DjlInternals.scalar(scope, 0.25f));
                for (int i = 0; i < 3; i++) {
                    System.gc();
                }
                gc.backward(target);
            }
            assertArrayEquals(new float[] {0.5f, 1f, 1.5f}, x.getGradient().toFloatArray());
        }
    }

    /** A view of an array made from Java memory becomes a copy in engine memory; the view is closed. */
    @Test
    void ownedCopiesAndClosesTheAlias() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray batch = m.create(new float[] {1, 2, 3, 4}, new Shape(2, 2));
            NDArray view = batch.get("1:2");
            NDArray own = DjlInternals.owned(view);
            assertTrue(view.isReleased());
            batch.close();
            System.gc();
            assertArrayEquals(new float[] {3, 4}, own.toFloatArray());
            assertEquals(m, own.getManager());
        }
    }

    /** An array made from a reused staging buffer keeps its values when the buffer is overwritten. */
    @Test
    void fromHostCopiesOutOfTheStagingBuffer() {
        try (NDManager m = NDManager.newBaseManager()) {
            ByteBuffer staging = ByteBuffer.allocateDirect(16).order(ByteOrder.nativeOrder());
            staging.asFloatBuffer().put(new float[] {1, 2, 3, 4});
            NDArray a = DjlInternals.fromHost(m, staging, new Shape(4), DataType.FLOAT32);
            staging.asFloatBuffer().put(new float[] {9, 9, 9, 9});
            assertArrayEquals(new float[] {1, 2, 3, 4}, a.toFloatArray());
            ByteBuffer longs = ByteBuffer.allocate(16).order(ByteOrder.nativeOrder());
            longs.asLongBuffer().put(new long[] {7, -8});
            assertArrayEquals(new long[] {7, -8}, DjlInternals.fromHost(m, longs, new Shape(2), DataType.INT64)
                    .toLongArray());
        }
    }

    /** Bytes in C order also for a non-contiguous array, and DJL's temporary copy does not stay on the manager. */
    @Test
    void copyToHostFreesTheTemporaryCopy() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray t = m.create(new float[] {1, 2, 3, 4, 5, 6}, new Shape(2, 3)).transpose();
            int before = m.getManagedArrays().size();
            ByteBuffer out = ByteBuffer.allocate(24).order(ByteOrder.nativeOrder());
            DjlInternals.copyToHost(t, out);
            float[] f = new float[6];
            out.flip();
            out.asFloatBuffer().get(f);
            assertArrayEquals(new float[] {1, 4, 2, 5, 3, 6}, f);
            assertEquals(before, m.getManagedArrays().size());
        }
    }

    /** A contiguous float array is writable through a view of its memory; others are not offered one. */
    @Test
    void writableViewOnlyWhereItIsTheArrayItself() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray a = m.create(new float[] {1, 2, 3, 4}, new Shape(2, 2)).duplicate();
            FloatBuffer v = DjlInternals.writableView(a);
            assertNotNull(v);
            v.put(0, 42f);
            assertArrayEquals(new float[] {42, 2, 3, 4}, a.toFloatArray());
            assertNull(DjlInternals.writableView(a.transpose()));
            assertNull(DjlInternals.writableView(m.create(new long[] {1, 2})));
        }
    }

    /** Floats in and out in place, contiguous (through the view) or not (through DJL's copy and arithmetic). */
    @Test
    void readAndWriteFloatsInPlaceWhateverTheLayout() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray contiguous = m.create(new float[] {1, 2, 3, 4}, new Shape(2, 2)).duplicate();
            NDArray transposed = m.create(new float[] {1, 2, 3, 4, 5, 6}, new Shape(2, 3)).duplicate().transpose();
            float[] flat = new float[10];
            DjlInternals.readFloats(contiguous, flat, 0);
            DjlInternals.readFloats(transposed, flat, 4);
            assertArrayEquals(new float[] {1, 2, 3, 4, 1, 4, 2, 5, 3, 6}, flat);
            for (int i = 0; i < flat.length; i++) {
                flat[i] *= 10;
            }
            DjlInternals.writeFloats(contiguous, flat, 0);
            DjlInternals.writeFloats(transposed, flat, 4);
            assertArrayEquals(new float[] {10, 20, 30, 40}, contiguous.toFloatArray());
            assertArrayEquals(new float[] {10, 40, 20, 50, 30, 60}, transposed.toFloatArray());
            assertEquals(new Shape(3, 2), transposed.getShape());
        }
    }

    /** Each gradient call is a new handle; closing it leaves the gradient itself. */
    @Test
    void gradientHandlesAreNewEachTime() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray w = m.create(new float[] {1, 2});
            w.setRequiresGradient(true);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                gc.backward(w.mul(w).sum());
            }
            NDArray g1 = DjlInternals.gradient(w);
            NDArray g2 = DjlInternals.gradient(w);
            assertNotSame(g1, g2);
            g1.close();
            assertArrayEquals(new float[] {2, 4}, g2.toFloatArray());
            g2.close();
            assertArrayEquals(new float[] {2, 4}, w.getGradient().toFloatArray());
        }
    }

    /**
     * A parameter's array can be replaced by a view of a larger buffer (flat parameters): the view shares the buffer's
     * memory, trains as a leaf, and overwrite writes into the buffer instead of pointing the view elsewhere.
     */
    @Test
    void replacedArraysAreViewsOfTheirBuffer() {
        try (NDManager m = NDManager.newBaseManager()) {
            ai.djl.nn.Parameter p = ai.djl.nn.Parameter.builder().setName("w").setType(
                    ai.djl.nn.Parameter.Type.WEIGHT).build();
            p.setArray(m.create(new float[] {1, 2, 3, 4}, new Shape(2, 2)));
            NDArray flat = m.create(new float[] {9, 9, 1, 2, 3, 4, 9, 9});
            NDArray view = DjlInternals.views(flat, new long[] {2}, java.util.List.of(new Shape(2, 2))).get(0);
            view.setRequiresGradient(true);
            DjlInternals.replaceArray(p, view);
            org.junit.jupiter.api.Assertions.assertSame(view, p.getArray());
            flat.muli(2); // the buffer changes, and the parameter with it
            assertArrayEquals(new float[] {2, 4, 6, 8}, p.getArray().toFloatArray());
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                gc.backward(p.getArray().mul(p.getArray()).sum());
            }
            assertArrayEquals(new float[] {4, 8, 12, 16}, p.getArray().getGradient().toFloatArray());
            DjlInternals.overwrite(p.getArray(), new float[] {5, 6, 7, 8});
            assertArrayEquals(new float[] {18, 18, 5, 6, 7, 8, 18, 18}, flat.toFloatArray());
            org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> DjlInternals.replaceArray(p, m.zeros(new Shape(3))));
        }
    }

    /** Overwriting a parameter in place keeps its gradient request (replacing the array would drop it). */
    @Test
    void overwriteKeepsTheArrayAndItsGradient() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray w = m.create(new float[] {1, 2});
            w.setRequiresGradient(true);
            ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.nativeOrder());
            b.asFloatBuffer().put(new float[] {5, 6});
            DjlInternals.overwrite(w, b);
            System.gc();
            assertArrayEquals(new float[] {5, 6}, w.toFloatArray());
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                gc.backward(w.mul(w).sum());
            }
            assertArrayEquals(new float[] {10, 12}, w.getGradient().toFloatArray());
            DjlInternals.overwrite(w, new float[] {7, 8});
            assertArrayEquals(new float[] {7, 8}, w.toFloatArray());
        }
    }

    /** DJL's optimizers keep per-parameter state in Map<String, Map<Device, NDArray>> fields, and update counts. */
    @Test
    void optimizerStateIsWhereWeLookForIt() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray w = m.create(new float[] {1, 2});
            Optimizer sgd = Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.1f)).optMomentum(0.9f).build();
            sgd.update("w0", w, m.create(new float[] {1, 1}));
            Map<String, Map<String, Map<Device, NDArray>>> state = DjlInternals.optimizerState(sgd);
            assertEquals(java.util.List.of("momentumStates"), java.util.List.copyOf(state.keySet()));
            assertArrayEquals(new float[] {0.1f, 0.1f}, state.get("momentumStates").get("w0").values().iterator()
                    .next().toFloatArray(), 1e-7f);
            assertEquals(1, DjlInternals.updateCounts(sgd).get("w0"));
            int n = DjlInternals.numUpdate(sgd);
            DjlInternals.setNumUpdate(sgd, n + 5);
            assertEquals(n + 5, DjlInternals.numUpdate(sgd));
            Optimizer adam = Optimizer.adam().build();
            assertEquals(java.util.List.of("means", "variances"),
                    java.util.List.copyOf(DjlInternals.optimizerState(adam).keySet()));
        }
    }

    /**
     * sgdStep asks DJL's Sgd what its update would use: the tracker's learning rate for this update's count (counted,
     * as Sgd.update counts), the momentum, and the momentum state in the optimizer's own map (made once, zero); null,
     * counting nothing, for what only DJL's native update computes (weight decay, clipping, rescaling, other classes).
     */
    @Test
    void sgdStepIsWhatSgdsUpdateWouldUse() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray w = m.create(new float[] {1, 2});
            Optimizer sgd = Optimizer.sgd().setLearningRateTracker(Tracker.factor().setBaseValue(0.5f).setFactor(0.1f)
                    .build()).optMomentum(0.9f).build();
            DjlInternals.SgdStep first = DjlInternals.sgdStep(sgd, "w", w);
            DjlInternals.SgdStep second = DjlInternals.sgdStep(sgd, "w", w);
            assertEquals(0.9f, first.momentum());
            assertEquals(0.5f * 0.1f, first.learningRate(), 1e-7f); // the factor tracker at update 1
            assertEquals(0.5f * 0.1f * 0.1f, second.learningRate(), 1e-7f);
            assertEquals(2, DjlInternals.updateCounts(sgd).get("w"));
            assertSame(first.momentumState(), second.momentumState());
            assertSame(first.momentumState(), DjlInternals.optimizerState(sgd).get("momentumStates").get("w")
                    .get(w.getDevice()));
            assertArrayEquals(new float[] {0, 0}, first.momentumState().toFloatArray());
            assertNull(DjlInternals.sgdStep(Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.1f)).build(), "w", w)
                    .momentumState());
            Optimizer[] notPlain = {
                Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.1f)).optWeightDecays(0.01f).build(),
                Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.1f)).optClipGrad(1f).build(),
                Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.1f)).setRescaleGrad(0.5f).build(),
                Optimizer.adam().build(),
            };
            for (Optimizer o : notPlain) {
                assertNull(DjlInternals.sgdStep(o, "w", w), o.toString());
                assertNull(DjlInternals.updateCounts(o).get("w"), "nothing counted");
            }
        }
    }

    /**
     * forward of an initialised SequentialBlock runs its children in order, as DJL's forward does (the same output,
     * bitwise); a block not initialised yet is initialised by DJL's forward; one that returns its intermediate
     * outputs still returns them.
     */
    @Test
    void forwardOfASequentialBlockIsItsChildrenInOrder() {
        try (NDManager m = NDManager.newBaseManager()) {
            ai.djl.training.ParameterStore store = new ai.djl.training.ParameterStore(m, false);
            NDList x = new NDList(m.randomNormal(new Shape(4, 6)));
            ai.djl.nn.SequentialBlock fresh = new ai.djl.nn.SequentialBlock()
                    .add(ai.djl.nn.core.Linear.builder().setUnits(5).build()).add(ai.djl.nn.Activation::relu)
                    .add(ai.djl.nn.core.Linear.builder().setUnits(3).build());
            NDList first = DjlInternals.forward(fresh, store, x, true); // initialises it
            assertTrue(fresh.isInitialized());
            assertEquals(new Shape(4, 3), first.head().getShape());
            for (int i = 0; i < 2; i++) { // the second time from the remembered children
                assertArrayEquals(fresh.forward(store, x, true).head().toFloatArray(),
                        DjlInternals.forward(fresh, store, x, true).head().toFloatArray());
            }
            ai.djl.nn.SequentialBlock all = new ai.djl.nn.SequentialBlock().setReturnIntermediate(true)
                    .add(ai.djl.nn.core.Linear.builder().setUnits(5).build())
                    .add(ai.djl.nn.core.Linear.builder().setUnits(3).build());
            all.initialize(m, DataType.FLOAT32, new Shape(4, 6));
            assertEquals(2, DjlInternals.forward(all, store, x, true).size());
        }
    }

    /** DJL's PyTorch SGD and Adam zero the gradient after an update (so a step need not); other optimizers may not. */
    @Test
    void sgdAndAdamUpdatesLeaveTheGradientZero() {
        Optimizer[] optimizers = {
            Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.1f)).optMomentum(0.9f).build(),
            Optimizer.adam().build(), Optimizer.adamW().build()};
        for (Optimizer o : optimizers) {
            assertTrue(DjlInternals.updateZeroesGradients(o), o.getClass().getName());
            try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
                NDArray w = m.create(new float[] {1f, -2f, 3f});
                w.setRequiresGradient(true);
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    gc.backward(w.mul(w).sum());
                }
                try (NDArray g = DjlInternals.gradient(w)) {
                    o.update("w", w, g);
                }
                try (NDArray g = DjlInternals.gradient(w)) {
                    assertArrayEquals(new float[] {0f, 0f, 0f}, g.toFloatArray(), o.getClass().getName());
                }
            }
        }
        Optimizer own = new Optimizer(Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.1f))) {
            @Override
            public void update(String id, NDArray w, NDArray g) {
                w.subi(g.mul(0.1f));
            }
        };
        assertTrue(!DjlInternals.updateZeroesGradients(own));
    }
}
