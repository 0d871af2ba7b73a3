package io.smp4j.pipeline.model;

import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import ai.djl.nn.ParallelBlock;
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
 *
 * <p>Units can be made finer ({@link #split}): a SequentialBlock into its children, and a residual block (a
 * {@link ParallelBlock} whose one branch is a SequentialBlock) into its main branch's steps, each passing the block's
 * input along behind its own output, and a last step that runs the other branches on that input and joins. The pieces
 * run the same operations on the same arrays in the same order as the whole block: results are bitwise the same.
 * A unit is known by its name, a path from the model ({@code 05SequentialBlock/01ParallelBlock#2}), so that a list
 * of names made on one rank ({@link #resolve}) gives the same units on every other.
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
     * The finer units {@code unit} consists of: a SequentialBlock's children, or a residual block's steps (see the
     * class comment); empty when it has none (a leaf, or a piece already).
     */
    public static List<Unit> split(Unit unit) {
        List<Unit> out = new ArrayList<>();
        if (unit.block() instanceof SequentialBlock s && s.getChildren().size() > 1) {
            for (Pair<String, Block> child : s.getChildren()) {
                out.add(new Unit(unit.name() + "/" + child.getKey(), child.getValue()));
            }
        } else if (unit.block() instanceof ParallelBlock p && ResidualPiece.mainBranch(p) >= 0) {
            int steps = ((SequentialBlock) p.getChildren().get(ResidualPiece.mainBranch(p)).getValue())
                    .getChildren().size();
            for (int i = 0; i <= steps; i++) {
                out.add(new Unit(unit.name() + "#" + (i == steps ? ResidualPiece.JOIN : Integer.toString(i)),
                        new ResidualPiece(p, i)));
            }
        }
        return out;
    }

    /** {@code unit} split as far as it goes: its leaves (or itself when it does not split). */
    public static List<Unit> splitFully(Unit unit) {
        List<Unit> parts = split(unit);
        if (parts.isEmpty()) {
            return List.of(unit);
        }
        List<Unit> out = new ArrayList<>();
        for (Unit u : parts) {
            out.addAll(splitFully(u));
        }
        return out;
    }

    /**
     * The units named {@code names} (as {@link Unit#name()} gives them for {@code model}), in that order. A name that
     * does not lead to a block of this model is an {@link IllegalArgumentException} naming it.
     */
    public static List<Unit> resolve(Block model, List<String> names) {
        List<Unit> out = new ArrayList<>();
        for (String name : names) {
            out.add(new Unit(name, find(model, name)));
        }
        return out;
    }

    private static Block find(Block model, String name) {
        if (!(model instanceof SequentialBlock)) {
            if (name.equals(model.getClass().getSimpleName())) {
                return model;
            }
            throw new IllegalArgumentException("unit '" + name + "' is not in this model (a "
                    + model.getClass().getSimpleName() + ", one unit)");
        }
        String path = name;
        String piece = null;
        int hash = name.indexOf('#');
        if (hash >= 0) {
            path = name.substring(0, hash);
            piece = name.substring(hash + 1);
        }
        Block b = model;
        for (String key : path.split("/")) {
            Block next = null;
            if (b instanceof SequentialBlock s) {
                for (Pair<String, Block> child : s.getChildren()) {
                    if (child.getKey().equals(key)) {
                        next = child.getValue();
                    }
                }
            }
            if (next == null) {
                throw new IllegalArgumentException("unit '" + name + "' is not in this model: no block '" + key
                        + "' where it should be");
            }
            b = next;
        }
        if (piece == null) {
            return b;
        }
        if (!(b instanceof ParallelBlock p) || ResidualPiece.mainBranch(p) < 0) {
            throw new IllegalArgumentException("unit '" + name + "' names a step of " + path + ", which is not a "
                    + "residual block");
        }
        int steps = ((SequentialBlock) p.getChildren().get(ResidualPiece.mainBranch(p)).getValue()).getChildren()
                .size();
        int step = ResidualPiece.JOIN.equals(piece) ? steps : parseStep(piece, steps, name);
        return new ResidualPiece(p, step);
    }

    private static int parseStep(String piece, int steps, String name) {
        try {
            int i = Integer.parseInt(piece);
            if (i >= 0 && i < steps) {
                return i;
            }
        } catch (NumberFormatException e) {
            // falls through
        }
        throw new IllegalArgumentException("unit '" + name + "' names step '" + piece + "' of a residual block with "
                + "steps 0.." + (steps - 1) + " and " + ResidualPiece.JOIN);
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
