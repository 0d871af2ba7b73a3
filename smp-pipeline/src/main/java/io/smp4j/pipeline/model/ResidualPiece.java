package io.smp4j.pipeline.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.ParallelBlock;
import ai.djl.nn.SequentialBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import ai.djl.util.PairList;
import java.util.ArrayList;
import java.util.Arrays;
import java.lang.reflect.Field;
import java.util.List;
import java.util.function.Function;

/**
 * One step of a residual block cut into pipeline units: a {@link ParallelBlock} whose main branch is a
 * {@link SequentialBlock} of k children and whose other branches (the shortcut) are anything. Step i < k runs the
 * main branch's child i and passes the block's input x along behind its output: step 0 takes {@code [x]} and gives
 * {@code [h0, x]}, step i takes {@code [h, x]} and gives {@code [child_i(h), x]}; the last step ({@link #JOIN}) runs
 * the other branches on x, in their order, and applies the block's join to all branch outputs. The same operations
 * on the same arrays in the same order as {@code ParallelBlock.forward}: within one stage the autograd graph is the
 * block's own. The block's input must be one array.
 */
public final class ResidualPiece extends AbstractBlock {
    /** Name of the last step in unit names ({@code ...#join}). */
    public static final String JOIN = "join";

    private final ParallelBlock whole;
    private final int main;
    private final int step;
    private final int steps;

    ResidualPiece(ParallelBlock whole, int step) {
        this.whole = whole;
        this.main = mainBranch(whole);
        SequentialBlock branch = (SequentialBlock) whole.getChildren().get(main).getValue();
        this.steps = branch.getChildren().size();
        this.step = step;
        // Children, so that parameters (and their gradients, checkpoints, moves) are found through this unit.
        if (step < steps) {
            Pair<String, Block> c = branch.getChildren().get(step);
            addChildBlock(c.getKey(), c.getValue());
        } else {
            for (int b = 0; b < whole.getChildren().size(); b++) {
                if (b != main) {
                    addChildBlock(whole.getChildren().get(b).getKey(), whole.getChildren().get(b).getValue());
                }
            }
        }
    }

    /**
     * The branch of {@code p} that is a SequentialBlock of at least two children (the one with most), when every other
     * branch is anything; -1 when none is.
     */
    static int mainBranch(ParallelBlock p) {
        int best = -1;
        int most = 1;
        for (int b = 0; b < p.getChildren().size(); b++) {
            if (p.getChildren().get(b).getValue() instanceof SequentialBlock s && s.getChildren().size() > most) {
                best = b;
                most = s.getChildren().size();
            }
        }
        return p.getChildren().size() >= 2 ? best : -1;
    }

    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training,
                                     PairList<String, Object> params) {
        if (step == 0) {
            if (inputs.size() != 1) {
                throw new IllegalArgumentException("a residual block cut into steps takes one input array, got "
                        + inputs.size());
            }
            NDList out = new NDList(getChildren().get(0).getValue().forward(ps, inputs, training, params));
            out.add(inputs.head());
            return out;
        }
        if (inputs.size() < 2) {
            throw new IllegalArgumentException("step " + (step == steps ? JOIN : step) + " of a residual block takes "
                    + "the previous step's output and the block's input, got " + inputs.size() + " array(s)");
        }
        NDArray x = inputs.get(inputs.size() - 1);
        NDList h = new NDList(inputs.subList(0, inputs.size() - 1));
        if (step < steps) {
            NDList out = new NDList(getChildren().get(0).getValue().forward(ps, h, training, params));
            out.add(x);
            return out;
        }
        List<NDList> branches = new ArrayList<>();
        int other = 0;
        for (int b = 0; b < whole.getChildren().size(); b++) {
            branches.add(b == main ? h
                    : getChildren().get(other++).getValue().forward(ps, new NDList(x), training, params));
        }
        return join(whole).apply(branches);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape x = inputShapes[inputShapes.length - 1];
        Shape[] h = step == 0 ? inputShapes : Arrays.copyOf(inputShapes, inputShapes.length - 1);
        if (step < steps) {
            Shape[] out = getChildren().get(0).getValue().getOutputShapes(h);
            Shape[] withX = Arrays.copyOf(out, out.length + 1);
            withX[out.length] = x;
            return withX;
        }
        // As ParallelBlock does: apply the join to zeros of the branches' output shapes; on the CPU, not DJL's default
        // device (GPU 0 on a GPU host, from every rank).
        try (NDManager scratch = NDManager.newBaseManager(Device.cpu())) {
            List<NDList> branches = new ArrayList<>();
            int other = 0;
            for (int b = 0; b < whole.getChildren().size(); b++) {
                Shape[] shapes = b == main ? h : getChildren().get(other++).getValue().getOutputShapes(new Shape[] {x});
                NDList zeros = new NDList();
                for (Shape s : shapes) {
                    zeros.add(scratch.zeros(s));
                }
                branches.add(zeros);
            }
            return join(whole).apply(branches).getShapes();
        }
    }

    @Override
    public void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        // The pieces share the block's children, initialised with the block.
    }

    /**
     * Initialises this step's own blocks for the step's input shapes (delayed initialisation materialises a model
     * piece by piece): step i's child of the main branch on the running output, the join's other branches on the
     * block's input.
     */
    void initializePiece(NDManager manager, DataType dataType, Shape[] inputShapes) {
        Shape x = inputShapes[inputShapes.length - 1];
        Shape[] h = step == 0 ? inputShapes : Arrays.copyOf(inputShapes, inputShapes.length - 1);
        for (Pair<String, Block> c : getChildren()) {
            c.getValue().initialize(manager, dataType, step < steps ? h : new Shape[] {x});
        }
    }

    @Override
    public String toString() {
        return "ResidualPiece(step " + (step == steps ? JOIN : step) + " of " + steps + ")";
    }

    /** A {@link ParallelBlock}'s join of its branch outputs (a private field of DJL's). */
    @SuppressWarnings("unchecked")
    private static Function<List<NDList>, NDList> join(ParallelBlock block) {
        try {
            Field f = ParallelBlock.class.getDeclaredField("function");
            f.setAccessible(true);
            return (Function<List<NDList>, NDList>) f.get(block);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("this DJL's ParallelBlock has no join function field", e);
        }
    }
}
