package io.smp4j.pipeline.model;

import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import io.smp4j.pipeline.wire.TensorCodec;
import java.util.ArrayList;
import java.util.List;

/**
 * A model as the ordered units a pipeline can cut between: the children of a top-level {@link SequentialBlock},
 * with a child SequentialBlock expanded into its own children when fewer units than stages would exist otherwise.
 * A model that is not sequential is one unit.
 */
public final class ModelUnits {
    private ModelUnits() {
    }

    /** A unit: a name for tables and logs, and the block itself (shared with the model, not copied). */
    public record Unit(String name, Block block) {
    }

    public static List<Unit> of(Block model, int minUnits) {
        List<Unit> units = new ArrayList<>();
        if (model instanceof SequentialBlock seq) {
            for (Pair<String, Block> child : seq.getChildren()) {
                units.add(new Unit(child.getKey(), child.getValue()));
            }
        } else {
            units.add(new Unit(model.getClass().getSimpleName(), model));
        }
        // Expand the nested sequential block with the most children first, until there are enough units.
        while (units.size() < minUnits) {
            int pick = -1;
            for (int i = 0; i < units.size(); i++) {
                if (units.get(i).block() instanceof SequentialBlock s && s.getChildren().size() > 1
                        && (pick < 0 || s.getChildren().size()
                        > ((SequentialBlock) units.get(pick).block()).getChildren().size())) {
                    pick = i;
                }
            }
            if (pick < 0) {
                break; // nothing left to expand: the partitioner reports too few units
            }
            Unit u = units.remove(pick);
            List<Unit> inner = new ArrayList<>();
            for (Pair<String, Block> child : ((SequentialBlock) u.block()).getChildren()) {
                inner.add(new Unit(u.name() + "/" + child.getKey(), child.getValue()));
            }
            units.addAll(pick, inner);
        }
        return units;
    }

    /**
     * Runs unit {@code index} on {@code input}. A unit that cannot take it (a count, shape or type mismatch) is an
     * {@link IllegalArgumentException} naming the unit, what it was given and where that came from.
     */
    public static NDList forward(List<Unit> units, int index, ParameterStore ps, NDList input, boolean training) {
        Unit unit = units.get(index);
        try {
            return unit.block().forward(ps, input, training);
        } catch (RuntimeException e) {
            String from = index == 0 ? "the model input" : "the output of unit " + (index - 1) + " ("
                    + units.get(index - 1).name() + ")";
            throw new IllegalArgumentException("unit " + index + " (" + unit.name() + ") cannot take " + from + ", "
                    + TensorCodec.Header.of(input) + ": " + e.getMessage(), e);
        }
    }

    /** Runs every unit in order, as {@link #forward(List, int, ParameterStore, NDList, boolean)} one by one. */
    public static NDList forwardAll(List<Unit> units, ParameterStore ps, NDList input, boolean training) {
        NDList x = input;
        for (int i = 0; i < units.size(); i++) {
            x = forward(units, i, ps, x, training);
        }
        return x;
    }

    /** A block that runs units {@code [from, to)} in order: one pipeline stage. */
    public static SequentialBlock stage(List<Unit> units, int from, int to) {
        SequentialBlock s = new SequentialBlock();
        for (Unit u : units.subList(from, to)) {
            s.add(u.block());
        }
        return s;
    }
}
