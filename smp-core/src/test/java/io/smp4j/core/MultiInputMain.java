package io.smp4j.core;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.loss.Loss;
import ai.djl.util.PairList;
import io.smp4j.pipeline.Microbatches;
import io.smp4j.pipeline.model.Parameters;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Rank program of the multi-input test: a model whose first unit takes three inputs (two float matrices and an int64
 * vector) and whose stages pass several arrays of mixed types to each other, one unit per stage on P processes:
 * <pre>
 *   unit 0 TwoTower  [x1 (n,6), x2 (n,4), ids int64 (n)] -> [relu(A x1) (n,8), B x2 (n,8), ids]
 *   unit 1 Mix       [a, b, ids] -> [a * sigmoid(b), ids]
 *   unit 2 Gate      [h, ids]    -> [C h + 0.01 ids]
 *   unit 3 Linear    -> 10 logits
 * </pre>
 * Trains 3 steps through the user API, replays them in one process on the same microbatches, and prints
 * {@code MULTI rank=R ... OK|FAIL}; then calls a step with one input missing, which every rank refuses with the same
 * message naming the unit.
 */
public final class MultiInputMain {
    static final int BATCH = 8;
    static final int MICROBATCHES = 4;
    static final int STEPS = 3;

    private MultiInputMain() {
    }

    /** Unit 0: two linear towers over the first two inputs; the third (int64) passes through. */
    static final class TwoTower extends AbstractBlock {
        private final Block a = addChildBlock("a", Linear.builder().setUnits(8).build());
        private final Block b = addChildBlock("b", Linear.builder().setUnits(8).build());

        @Override
        protected NDList forwardInternal(ParameterStore ps, NDList in, boolean training, PairList<String, Object> p) {
            NDArray ha = a.forward(ps, new NDList(in.get(0)), training).head();
            NDArray hb = b.forward(ps, new NDList(in.get(1)), training).head();
            return new NDList(Activation.relu(ha), hb, in.get(2));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] in) {
            return new Shape[] {new Shape(in[0].get(0), 8), new Shape(in[1].get(0), 8), in[2]};
        }

        @Override
        protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... in) {
            a.initialize(manager, dataType, in[0]);
            b.initialize(manager, dataType, in[1]);
        }
    }

    /** Unit 2: a linear layer over the float input plus the integer one, converted. */
    static final class Gate extends AbstractBlock {
        private final Block c = addChildBlock("c", Linear.builder().setUnits(8).build());

        @Override
        protected NDList forwardInternal(ParameterStore ps, NDList in, boolean training, PairList<String, Object> p) {
            NDArray ids = in.get(1).toType(DataType.FLOAT32, false).reshape(-1, 1).mul(0.01f);
            return new NDList(c.forward(ps, new NDList(in.get(0)), training).head().add(ids));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] in) {
            return new Shape[] {new Shape(in[0].get(0), 8)};
        }

        @Override
        protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... in) {
            c.initialize(manager, dataType, in[0]);
        }
    }

    static Block build(NDManager m) {
        Engine.getInstance().setRandomSeed(31);
        Block b = new SequentialBlock().add(new TwoTower())
                .add(new LambdaBlock(l -> new NDList(l.get(0).mul(Activation.sigmoid(l.get(1))), l.get(2)), "Mix"))
                .add(new Gate()).add(Linear.builder().setUnits(10).build());
        int rows = BATCH / MICROBATCHES;
        b.initialize(m, DataType.FLOAT32, new Shape(rows, 6), new Shape(rows, 4), new Shape(rows));
        return b;
    }

    /** Step s's batch: three inputs and the labels, from the seed only. */
    static NDList[] batch(NDManager m, int s) {
        Random rnd = new Random(1234 + s);
        float[] x1 = new float[BATCH * 6];
        float[] x2 = new float[BATCH * 4];
        long[] ids = new long[BATCH];
        float[] y = new float[BATCH];
        for (int i = 0; i < x1.length; i++) {
            x1[i] = (float) rnd.nextGaussian();
        }
        for (int i = 0; i < x2.length; i++) {
            x2[i] = (float) rnd.nextGaussian();
        }
        for (int i = 0; i < BATCH; i++) {
            ids[i] = rnd.nextInt(100);
            y[i] = rnd.nextInt(10);
        }
        return new NDList[] {new NDList(m.create(x1, new Shape(BATCH, 6)), m.create(x2, new Shape(BATCH, 4)),
                m.create(ids)), new NDList(m.create(y))};
    }

    /** The user's step: one model call with every input. */
    public static final class Trainer {
        private final Loss loss = Loss.softmaxCrossEntropyLoss();

        @Step
        public NDArray trainStep(DistributedModel model, NDList inputs, NDList labels) {
            NDArray l = loss.evaluate(labels, model.forward(inputs));
            model.backward(l);
            return l;
        }
    }

    public static void main(String[] args) {
        int code = 0;
        SmpConfig cfg = SmpConfig.builder().partitions(Integer.parseInt(args[0])).microbatches(MICROBATCHES)
                .pipeline(args[1]).autoPartition(false).build();
        try (Smp smp = Smp.init(cfg); NDManager manager = NDManager.newBaseManager()) {
            DistributedModel dm = new DistributedModel(smp, build(manager), manager);
            for (int u = 0; u < 4; u++) {
                dm.place(u, u * smp.ppSize() / 4);
            }
            DistributedOptimizer opt = new DistributedOptimizer(dm, HybridMain.sgd());
            Trainer t = new Trainer();
            float[][] losses = new float[STEPS][];
            for (int s = 0; s < STEPS; s++) {
                try (NDManager step = manager.newSubManager()) {
                    NDList[] b = batch(step, s);
                    StepOutput out = smp.step(t, "trainStep", dm, b[0], b[1]);
                    losses[s] = new float[MICROBATCHES];
                    for (int i = 0; i < MICROBATCHES; i++) {
                        losses[s][i] = out.outputs().get(i).getFloat();
                    }
                    opt.step();
                }
            }

            // One process, the same microbatches, gradients accumulated in microbatch order.
            Block ref = build(manager);
            ParameterStore ps = new ParameterStore(manager, false);
            Loss loss = Loss.softmaxCrossEntropyLoss();
            ai.djl.training.optimizer.Optimizer refOpt = HybridMain.sgd();
            double lossDiff = 0;
            for (int s = 0; s < STEPS; s++) {
                try (NDManager step = manager.newSubManager()) {
                    NDList[] b = batch(step, s);
                    List<NDList> xs = Microbatches.split(b[0], MICROBATCHES, 0);
                    List<NDList> ys = Microbatches.split(b[1], MICROBATCHES, 0);
                    Parameters.zeroGradients(ref);
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        for (int i = 0; i < MICROBATCHES; i++) {
                            NDArray l = loss.evaluate(ys.get(i), ref.forward(ps, xs.get(i), true));
                            lossDiff = Math.max(lossDiff, Math.abs(l.getFloat() - losses[s][i]));
                            gc.backward(l.mul(step.create(1f / MICROBATCHES)));
                        }
                    }
                    for (Parameter p : Parameters.of(ref)) {
                        if (p.requiresGradient()) {
                            refOpt.update(p.getId(), p.getArray(), p.getArray().getGradient());
                        }
                    }
                }
            }
            List<Parameter> mine = dm.localParameters();
            List<Parameter> theirs = Parameters.of(io.smp4j.pipeline.model.ModelUnits.stage(
                    io.smp4j.pipeline.model.ModelUnits.resolve(ref, dm.plan().unitNames()),
                    dm.plan().firstUnit(smp.ppRank()), dm.plan().endUnit(smp.ppRank())));
            double paramDiff = Parameters.maxRelativeDifference(mine, theirs);
            boolean ok = paramDiff == 0 && lossDiff == 0 && losses[STEPS - 1][0] != losses[0][0];
            System.out.printf(Locale.ROOT, "MULTI rank=%d stage=%d units=%s tensors=%d paramDiff=%.3g lossDiff=%.3g "
                    + "%s%n", smp.rank(), smp.ppRank(), dm.plan().describeStage(smp.ppRank()), mine.size(), paramDiff,
                    lossDiff, ok ? "OK" : "FAIL");
            code |= ok ? 0 : 1;

            // A step given two of the three inputs: refused on every rank alike, before any pipeline traffic.
            DistributedModel other = new DistributedModel(smp, build(manager), manager);
            try (NDManager step = manager.newSubManager()) {
                NDList[] b = batch(step, 0);
                smp.step(t, "trainStep", other, new NDList(b[0].get(0), b[0].get(1)), b[1]);
                System.out.println("MISSING rank=" + smp.rank() + " FAIL no error");
                code = 1;
            } catch (IllegalArgumentException e) {
                System.out.println("MISSING rank=" + smp.rank() + " " + e.getMessage().replace('\n', ' '));
            }
        } catch (RuntimeException e) {
            e.printStackTrace(System.out);
            code = 1;
        }
        System.out.flush();
        Runtime.getRuntime().halt(code);
    }
}
