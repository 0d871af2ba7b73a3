package io.smp4j.pipeline.model;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.initializer.Initializer;
import io.smp4j.pipeline.wire.TensorCodec;
import java.util.List;

/**
 * Gives a unit's parameters memory, or takes it back: what delayed initialisation does one unit at a time (a rank
 * materialises only the units it runs; the planner materialises, measures and releases one unit after another, so no
 * process ever holds the whole model). A released parameter keeps its shape and initializer, so it can be
 * materialised again.
 */
public final class Materializer {
    private Materializer() {
    }

    /**
     * Allocates the parameters of {@code unit} that have no array, from their initializers, on {@code manager}.
     * {@code inputShapes} are the unit's input shapes (what DJL's shape inference needs for parameters never shaped).
     */
    public static void materialize(ModelUnits.Unit unit, NDManager manager, DataType type, Shape[] inputShapes) {
        List<Parameter> params = Parameters.of(unit.block());
        if (params.stream().allMatch(Parameter::isInitialized)) {
            return;
        }
        if (inputShapes == null) {
            if (params.stream().allMatch(p -> p.isInitialized() || p.getShape() != null)) {
                // Shaped before (materialised and released): allocate without the blocks' shape inference.
                for (Parameter p : params) {
                    p.initialize(manager, type);
                }
                return;
            }
            throw new IllegalStateException("unit " + unit.name() + " has parameters of unknown shape and no input "
                    + "shapes to infer them from");
        }
        // Through DJL's initialisation, as the whole model would be: blocks learn their input shapes too (what DJL's
        // parameter files record).
        if (unit.block() instanceof ResidualPiece piece) {
            piece.initializePiece(manager, type, inputShapes);
        } else {
            unit.block().initialize(manager, type, inputShapes);
        }
    }

    /**
     * As {@link #materialize}, with zeros instead of the initializers (no draw from the engine's generator): for
     * parameters whose values arrive from elsewhere (a checkpoint, another rank) right after.
     */
    public static void zeros(ModelUnits.Unit unit, NDManager manager, Shape[] inputShapes) {
        List<Parameter> params = Parameters.of(unit.block());
        List<Initializer> inits = params.stream().map(Parameter::getInitializer).toList();
        try {
            params.forEach(p -> p.setInitializer(Initializer.ZEROS));
            materialize(unit, manager, DataType.FLOAT32, inputShapes);
        } finally {
            for (int i = 0; i < params.size(); i++) {
                params.get(i).setInitializer(inits.get(i));
            }
        }
    }

    /** Frees the arrays of {@code unit}'s parameters (shapes and initializers stay). */
    public static long release(ModelUnits.Unit unit) {
        long freed = 0;
        for (Parameter p : Parameters.of(unit.block())) {
            if (p.isInitialized()) {
                freed += p.getArray().size() * p.getArray().getDataType().getNumOfBytes();
                p.close();
            }
        }
        return freed;
    }

    /** Whether none of {@code unit}'s parameters has an array. */
    public static boolean released(ModelUnits.Unit unit) {
        return Parameters.of(unit.block()).stream().noneMatch(Parameter::isInitialized);
    }

    /** Unit {@code u}'s input shapes in {@code inputs} (per unit of a plan), or null without them. */
    public static Shape[] shapes(List<TensorCodec.Header> inputs, int u) {
        return inputs == null ? null : inputs.get(u).shapes().toArray(new Shape[0]);
    }
}
