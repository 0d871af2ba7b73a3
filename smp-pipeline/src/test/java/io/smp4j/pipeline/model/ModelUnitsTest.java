package io.smp4j.pipeline.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.basicmodelzoo.cv.classification.ResNetV1;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Finer units: a residual block cut into steps computes bitwise what the block computes, forward and backward. */
class ModelUnitsTest {
    static Block resnet(NDManager m) {
        Engine.getInstance().setRandomSeed(7);
        Block b = ResNetV1.builder().setImageShape(new Shape(3, 32, 32)).setNumLayers(18).setOutSize(10).build();
        b.initialize(m, DataType.FLOAT32, new Shape(4, 3, 32, 32));
        return b;
    }

    static List<ModelUnits.Unit> finest(Block model) {
        List<ModelUnits.Unit> out = new ArrayList<>();
        for (ModelUnits.Unit u : ModelUnits.of(model, 1)) {
            out.addAll(ModelUnits.splitFully(u));
        }
        return out;
    }

    /** Output and every parameter gradient of one training forward + backward over {@code units}. */
    static List<float[]> run(Block model, List<ModelUnits.Unit> units, NDManager m) {
        List<float[]> out = new ArrayList<>();
        try (NDManager scope = m.newSubManager()) {
            Engine.getInstance().setRandomSeed(3);
            NDArray x = scope.randomNormal(new Shape(4, 3, 32, 32));
            for (Parameter p : Parameters.of(model)) {
                if (p.requiresGradient()) {
                    p.getArray().setRequiresGradient(true); // zeroes the gradient
                }
            }
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDList y = ModelUnits.forwardAll(units, new ParameterStore(scope, false), new NDList(x), true);
                out.add(y.singletonOrThrow().toFloatArray());
                gc.backward(y.singletonOrThrow().square().sum());
            }
            for (Parameter p : Parameters.of(model)) {
                out.add(p.requiresGradient() ? p.getArray().getGradient().toFloatArray() : p.getArray().toFloatArray());
            }
        }
        return out;
    }

    @Test
    void residualBlocksCutIntoStepsComputeBitwiseTheSame() {
        try (NDManager m = NDManager.newBaseManager()) {
            Block a = resnet(m);
            List<ModelUnits.Unit> coarse = ModelUnits.of(a, 1);
            List<ModelUnits.Unit> fine = finest(a);
            long pieces = fine.stream().filter(u -> u.block() instanceof ResidualPiece).count();
            assertTrue(pieces >= 8 * 6, "every residual block of ResNet18 is cut into steps: " + fine.size()
                    + " units, " + pieces + " pieces");
            List<float[]> whole = run(a, coarse, m);
            Block b = resnet(m);
            List<float[]> cut = run(b, finest(b), m);
            assertEquals(whole.size(), cut.size());
            for (int i = 0; i < whole.size(); i++) {
                assertArrayEquals(whole.get(i), cut.get(i), 0f, "output or parameter gradient " + i);
            }
            // Not vacuous: the gradients are not zero.
            float sum = 0;
            for (float v : whole.get(1)) {
                sum += Math.abs(v);
            }
            assertTrue(sum > 0);
        }
    }

    @Test
    void namesResolveToTheSameBlocksAndBadNamesAreNamed() {
        try (NDManager m = NDManager.newBaseManager()) {
            Block a = resnet(m);
            List<ModelUnits.Unit> fine = finest(a);
            List<ModelUnits.Unit> back = ModelUnits.resolve(a, fine.stream().map(ModelUnits.Unit::name).toList());
            for (int i = 0; i < fine.size(); i++) {
                assertEquals(fine.get(i).name(), back.get(i).name());
                List<Parameter> p = Parameters.of(fine.get(i).block());
                List<Parameter> q = Parameters.of(back.get(i).block());
                assertEquals(p.size(), q.size());
                for (int k = 0; k < p.size(); k++) {
                    assertSame(p.get(k), q.get(k));
                }
            }
            String first = fine.get(0).name();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ModelUnits.resolve(a, List.of("99Nothing/" + first)));
            assertTrue(e.getMessage().contains("99Nothing"), e.getMessage());
            String piece = fine.stream().map(ModelUnits.Unit::name).filter(n -> n.contains("#")).findFirst()
                    .orElseThrow();
            String bad = piece.substring(0, piece.indexOf('#')) + "#42";
            e = assertThrows(IllegalArgumentException.class, () -> ModelUnits.resolve(a, List.of(bad)));
            assertTrue(e.getMessage().contains("step '42'"), e.getMessage());
        }
    }
}
