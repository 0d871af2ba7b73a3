package com.example.consumer;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import io.smp4j.core.DistributedModel;
import io.smp4j.core.DistributedOptimizer;
import io.smp4j.core.Smp;
import io.smp4j.core.SmpConfig;
import io.smp4j.core.Step;
import io.smp4j.core.StepOutput;

/**
 * A user's training program: an MLP learning a synthetic rule (the class is the index of the largest of the first 4
 * features), split into as many pipeline stages as processes, 4 microbatches per step. Run it with
 * {@code ./smp run -np 2 --cp <its class path> com.example.consumer.Train [steps]} or under mpirun. Exits non-zero
 * unless the loss falls.
 */
public final class Train {
    private final Loss loss = Loss.softmaxCrossEntropyLoss();

    @Step
    public NDArray trainStep(DistributedModel model, NDList x, NDList y) {
        NDArray l = loss.evaluate(y, model.forward(x));
        model.backward(l);
        return l;
    }

    public static void main(String[] args) {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 30;
        int code;
        try (Smp smp = Smp.init(SmpConfig.fromJson("{\"partitions\": " + launchSize() + ", \"microbatches\": 4}"));
             NDManager manager = NDManager.newBaseManager(smp.device())) {
            Engine.getInstance().setRandomSeed(1);
            Block mlp = new SequentialBlock().add(Linear.builder().setUnits(64).build()).add(Activation::relu)
                    .add(Linear.builder().setUnits(64).build()).add(Activation::relu)
                    .add(Linear.builder().setUnits(4).build());
            mlp.initialize(manager, DataType.FLOAT32, new Shape(8, 16));
            DistributedModel model = new DistributedModel(smp, mlp, manager);
            DistributedOptimizer opt = new DistributedOptimizer(model,
                    Optimizer.adam().optLearningRateTracker(Tracker.fixed(0.01f)).build());
            Train t = new Train();
            float first = 0;
            float last = 0;
            for (int s = 0; s < steps; s++) {
                try (NDManager step = manager.newSubManager()) {
                    Engine.getInstance().setRandomSeed(100 + s);
                    NDArray x = step.randomNormal(new Shape(32, 16));
                    NDArray y = x.get(":, 0:4").argMax(1).toType(DataType.FLOAT32, false);
                    StepOutput out = smp.step(t, "trainStep", model, new NDList(x), new NDList(y));
                    opt.step();
                    last = out.reduceMean().getFloat();
                    first = s == 0 ? last : first;
                }
            }
            boolean ok = last < 0.7f * first;
            System.out.printf("consumer: rank %d of %d (stage %d, %s) trained %d steps: loss %.4f -> %.4f %s; "
                            + "smp-core from %s%n", smp.rank(), smp.size(), smp.ppRank(),
                    model.plan().describeStage(smp.ppRank()), steps, first, last, ok ? "OK" : "FAILED",
                    Smp.class.getProtectionDomain().getCodeSource().getLocation().getPath());
            code = ok ? 0 : 1;
        }
        System.exit(code);
    }

    /** The number of processes this program was started on (its pipeline has as many stages). */
    private static int launchSize() {
        for (String v : new String[] {"SMP_WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
            if (System.getenv(v) != null) {
                return Integer.parseInt(System.getenv(v));
            }
        }
        return 1;
    }
}
