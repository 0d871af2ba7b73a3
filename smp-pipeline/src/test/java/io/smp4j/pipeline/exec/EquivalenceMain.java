package io.smp4j.pipeline.exec;

import ai.djl.basicmodelzoo.cv.classification.ResNetV1;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.XavierInitializer;
import ai.djl.training.loss.Loss;
import io.smp4j.comm.Communicator;
import io.smp4j.comm.launch.Bootstrap;
import io.smp4j.pipeline.Microbatches;
import io.smp4j.pipeline.model.ModelUnits;
import io.smp4j.pipeline.model.Parameters;
import io.smp4j.pipeline.partition.PartitionPlan;
import io.smp4j.pipeline.partition.Planner;
import io.smp4j.pipeline.schedule.Action;
import io.smp4j.pipeline.schedule.Schedule;
import io.smp4j.pipeline.schedule.Schedules;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Rank program of the equivalence test: {@code EquivalenceMain MODEL} with the world = one pipeline of P stages.
 * For M in {4, 8} and both schedules, trains this rank's stage for 3 SGD steps, then runs the unsplit model in this
 * same process over the same microbatches from the same seed, and prints the largest relative difference of its
 * stage's parameters (and, on the last stage, of the losses): {@code EQUIV ... maxRelParamDiff=... }. The pipelined
 * run collects garbage after every action, so memory that only unreachable Java objects keep alive cannot go
 * unnoticed.
 */
public final class EquivalenceMain {
    static final int STEPS = 3;
    static final int BATCH = 16;
    static final float LR = 0.05f;
    static final long SEED = 1234;

    private EquivalenceMain() {
    }

    static Block build(String model) {
        if (model.equals("resnet18")) {
            return ResNetV1.builder().setImageShape(new Shape(3, 32, 32)).setNumLayers(18).setOutSize(10).build();
        }
        return new SequentialBlock()
                .add(Linear.builder().setUnits(64).build()).add(Activation::relu)
                .add(Linear.builder().setUnits(64).build()).add(Activation::tanh)
                .add(Linear.builder().setUnits(32).build()).add(Activation::relu)
                .add(Linear.builder().setUnits(10).build());
    }

    static Shape sampleShape(String model, int rows) {
        return model.equals("resnet18") ? new Shape(rows, 3, 32, 32) : new Shape(rows, 20);
    }

    /** The model with parameters that depend only on the seed. */
    static Block initialised(String model, NDManager manager, int microbatch) {
        Engine.getInstance().setRandomSeed((int) SEED);
        Block b = build(model);
        b.setInitializer(new XavierInitializer(), Parameter.Type.WEIGHT);
        b.initialize(manager, DataType.FLOAT32, sampleShape(model, microbatch));
        return b;
    }

    /** Step s's batch, the same on every rank and in every layout. */
    static NDList[] batch(String model, NDManager manager, int step) {
        Random rnd = new Random(SEED * 31 + step);
        Shape xs = sampleShape(model, BATCH);
        float[] x = new float[(int) xs.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        float[] y = new float[BATCH];
        for (int i = 0; i < BATCH; i++) {
            y[i] = rnd.nextInt(10);
        }
        return new NDList[] {new NDList(manager.create(x, xs)), new NDList(manager.create(y, new Shape(BATCH)))};
    }

    static List<NDList> split(NDList whole, int m) {
        return Microbatches.split(whole, m, 0);
    }

    static void sgd(Block block) {
        for (Parameter p : Parameters.of(block)) {
            NDArray w = p.getArray();
            if (p.requiresGradient() && w.hasGradient()) {
                w.subi(w.getGradient().mul(LR));
            }
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * How step 0 ran against the schedule: {@code order=schedule} when every action ran in the schedule's order, else
     * {@code order=ran-ahead:N held=H} with N forwards run before the schedule's position and H the most microbatches
     * held at once; {@code order=WRONG} when forwards or backwards left their own order, an action is missing, or H
     * exceeds {@code active}.
     */
    static String ranAhead(List<Action> ran, List<Action> scheduled, int active) {
        if (ran.size() != scheduled.size() || !new java.util.HashSet<>(ran).equals(new java.util.HashSet<>(scheduled))
                || !ofType(ran, Action.Type.FORWARD).equals(ofType(scheduled, Action.Type.FORWARD))
                || !ofType(ran, Action.Type.BACKWARD).equals(ofType(scheduled, Action.Type.BACKWARD))) {
            return "order=WRONG";
        }
        if (ran.equals(scheduled)) {
            return "order=schedule";
        }
        int early = 0;
        int held = 0;
        int most = 0;
        for (int i = 0; i < ran.size(); i++) {
            Action a = ran.get(i);
            if (a.type() == Action.Type.FORWARD) {
                early += scheduled.indexOf(a) > i ? 1 : 0;
                most = Math.max(most, ++held);
            } else if (a.type() == Action.Type.BACKWARD) {
                held--;
            }
        }
        return most > active ? "order=WRONG" : "order=ran-ahead:" + early + " held=" + most;
    }

    private static List<Action> ofType(List<Action> actions, Action.Type type) {
        return actions.stream().filter(a -> a.type() == type).toList();
    }

    public static void main(String[] args) {
        String model = args[0];
        int code = 0;
        try (Communicator world = Bootstrap.init(); NDManager manager = NDManager.newBaseManager()) {
            int p = world.size();
            int r = world.rank();
            Loss loss = Loss.softmaxCrossEntropyLoss();
            // Rank 0 measures and partitions; every rank runs the plan it receives.
            Block probe = initialised(model, manager, BATCH / 4);
            NDList sample = new NDList(manager.randomNormal(sampleShape(model, BATCH / 4)));
            PartitionPlan plan = Planner.plan(world, probe, sample, Planner.Settings.auto(p, 0.2));
            if (r == 0) {
                plan.table().forEach(line -> System.out.println("PLAN " + line));
            }
            for (int m : new int[] {4, 8}) {
                for (String pipeline : new String[] {"simple", "interleaved"}) {
                    code |= compare(world, manager, model, plan, m, Schedules.of(pipeline, p, m), loss) ? 0 : 1;
                }
            }
        } catch (RuntimeException e) {
            e.printStackTrace(System.out);
            code = 1;
        }
        System.out.flush();
        Runtime.getRuntime().halt(code);
    }

    static boolean compare(Communicator world, NDManager manager, String model, PartitionPlan plan, int m,
                           Schedule schedule, Loss loss) {
        int p = world.size();
        int r = world.rank();
        int mbSize = Microbatches.size(BATCH, m);
        float[][] pipeLoss = new float[STEPS][];
        float[][] refLoss = new float[STEPS][m];
        String order = "";
        try (NDManager scope = manager.newSubManager()) {
            Block full = initialised(model, scope, mbSize);
            List<ModelUnits.Unit> units = ModelUnits.resolve(full, plan.unitNames());
            Block stage = ModelUnits.stage(units, plan.firstUnit(r), plan.endUnit(r));
            PipelineExecutor exec = new PipelineExecutor(stage, r, p, world, scope, "stage " + r);
            // 1F1B runs ahead (as smp-core sets it up for pipeline: interleaved), and the last stage is slowed down
            // after each backward, so that gradients come late and the earlier stages do run forwards early.
            boolean runAhead = schedule.name().equals("1f1b");
            int active = p + 2;
            if (runAhead) {
                exec.setRunAhead(active);
            }
            List<Action> ran = new ArrayList<>();
            // A garbage collection after every action: anything the pipeline needs but only a dropped Java object
            // keeps alive (DJL's PyTorch arrays made from Java values are) would be freed, and the step would fail.
            exec.setListener((action, t0, t1) -> {
                System.gc();
                ran.add(action);
                if (runAhead && r == p - 1 && action.type() == Action.Type.BACKWARD) {
                    sleep(40);
                }
            }, DeviceClock.synchronizing(() -> { }));
            for (int s = 0; s < STEPS; s++) {
                try (NDManager step = scope.newSubManager()) {
                    NDList[] b = batch(model, step, s);
                    ran.clear();
                    pipeLoss[s] = TrainSteps.trainStep(exec, schedule, split(b[0], m), split(b[1], m), loss, 1f / m);
                    sgd(stage);
                    order = order.isEmpty() ? ranAhead(ran, schedule.forStage(r), active) : order;
                }
            }

            Block ref = initialised(model, scope, mbSize);
            ParameterStore ps = new ParameterStore(scope, false);
            for (int s = 0; s < STEPS; s++) {
                try (NDManager step = scope.newSubManager()) {
                    Parameters.zeroGradients(ref);
                    NDList[] b = batch(model, step, s);
                    List<NDList> xs = split(b[0], m);
                    List<NDList> ys = split(b[1], m);
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        for (int i = 0; i < m; i++) {
                            NDList out = ref.forward(ps, xs.get(i), true);
                            NDArray l = loss.evaluate(ys.get(i), out);
                            refLoss[s][i] = l.getFloat();
                            try (NDArray scale = step.create(1f / m)) {
                                gc.backward(l.mul(scale));
                            }
                        }
                    }
                    sgd(ref);
                }
            }

            List<ModelUnits.Unit> refUnits = ModelUnits.resolve(ref, plan.unitNames());
            double maxRel = 0;
            int tensors = 0;
            for (int u = plan.firstUnit(r); u < plan.endUnit(r); u++) {
                List<Parameter> a = Parameters.of(units.get(u).block());
                maxRel = Math.max(maxRel, Parameters.maxRelativeDifference(a,
                        Parameters.of(refUnits.get(u).block())));
                tensors += a.size();
            }
            double lossDiff = 0;
            if (r == p - 1) {
                for (int s = 0; s < STEPS; s++) {
                    for (int i = 0; i < m; i++) {
                        lossDiff = Math.max(lossDiff, Math.abs(pipeLoss[s][i] - refLoss[s][i])
                                / Math.max(1e-12, Math.abs(refLoss[s][i])));
                    }
                }
            }
            // A stage may hold only parameter-free units (an activation): the test sums tensors over the stages.
            // Bitwise: the stage runs the same kernels on the same shapes in the same order as the unsplit model, and
            // the backward of sum(output x upstream gradient) hands it exactly the upstream gradient.
            boolean ok = maxRel == 0 && lossDiff == 0;
            System.out.printf(Locale.ROOT, "EQUIV model=%s P=%d M=%d pipeline=%s stage=%d tensors=%d "
                            + "maxRelParamDiff=%.3g maxRelLossDiff=%.3g lastLoss=%.5f %s %s%n", model, p, m,
                    schedule.name(), r, tensors, maxRel, lossDiff, refLoss[STEPS - 1][m - 1], ok ? "OK" : "FAIL",
                    order);
            return ok;
        }
    }
}
