package io.smp4j.pipeline.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.initializer.Initializer;
import ai.djl.util.Pair;
import java.nio.charset.StandardCharsets;

/**
 * Initial parameter values that depend only on a base seed and each parameter's path in the model
 * ({@code 03TransformerLayer_01Linear_weight}), not on which process initialises it, in what order, or what else it
 * initialises first: a model initialised whole on one process and the same model initialised stage by stage over many
 * (delayed initialisation) start from the same values, so any two layouts of a job stay comparable bitwise.
 *
 * <p>Each parameter's initializer is wrapped: before drawing, the engine's random generator is seeded with a hash of
 * the base seed and the parameter's path. Drawing re-seeds the engine's generator (as {@code Engine.setRandomSeed}
 * does). Values drawn on a GPU differ from the CPU's (another generator), as they would initialised whole.
 *
 * <pre>{@code
 * SeededInit.apply(gpt, 42);                                   // before any initialisation
 * gpt.initialize(manager, DataType.FLOAT32, new Shape(4, 64)); // whole, on one process: the same values as
 * DistributedModel.delayed(smp, gpt, manager, 42);             // stage by stage over the ranks
 * }</pre>
 */
public final class SeededInit {
    private SeededInit() {
    }

    /** Wraps every parameter's initializer of {@code model} with its own seed (again: replaces the earlier seed). */
    public static void apply(Block model, long seed) {
        for (Pair<String, Parameter> p : model.getParameters()) {
            Initializer inner = p.getValue().getInitializer();
            if (inner instanceof Seeded s) {
                inner = s.inner();
            }
            if (inner != null) {
                p.getValue().setInitializer(new Seeded(inner, seedOf(seed, p.getKey())));
            }
        }
    }

    /** Whether every parameter of {@code model} that has an initializer has a seeded one. */
    public static boolean applied(Block model) {
        for (Pair<String, Parameter> p : model.getParameters()) {
            Initializer i = p.getValue().getInitializer();
            if (i != null && !(i instanceof Seeded)) {
                return false;
            }
        }
        return true;
    }

    /** The seed of the parameter at {@code path}: FNV-1a over the path's bytes, mixed with the base seed. */
    static long seedOf(long base, String path) {
        long h = 0xcbf29ce484222325L ^ base;
        for (byte b : path.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        // SplitMix64's finaliser: nearby paths get unrelated seeds.
        h ^= h >>> 30;
        h *= 0xbf58476d1ce4e5b9L;
        h ^= h >>> 27;
        h *= 0x94d049bb133111ebL;
        return h ^ (h >>> 31);
    }

    /** An initializer that seeds the engine's generator first. */
    record Seeded(Initializer inner, long seed) implements Initializer {
        @Override
        public NDArray initialize(NDManager manager, Shape shape, DataType dataType) {
            Engine.getInstance().setRandomSeed((int) (seed ^ (seed >>> 32)));
            return inner.initialize(manager, shape, dataType);
        }
    }
}
