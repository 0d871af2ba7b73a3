package io.smp4j.examples.bench;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.loss.Loss;
import ai.djl.translate.Batchifier;
import io.smp4j.core.DistributedModel;
import io.smp4j.core.DistributedOptimizer;
import io.smp4j.core.Smp;
import io.smp4j.core.SmpConfig;
import io.smp4j.core.device.Cuda;
import io.smp4j.examples.cli.CommandLines;
import io.smp4j.pipeline.Stats;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Rank program of the overhead benchmark (one process; {@link TrainBench}'s options): the same model, data and threads
 * trained by
 * smp4j (partitions 1, microbatches 1) and by a plain DJL {@link Trainer} loop ({@link EasyTrain#trainBatch}), in
 * alternating rounds.
 */
final class OverheadBench {
    private OverheadBench() {
    }

    public static void main(String[] args) throws Exception {
        TrainBench.Options o = CommandLines.parseOrExit(new TrainBench.Options(), args, "overheadbench");
        TrainBench.write(run(o), o.out);
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }

    /** A batch of copies of the data (a Batch closes its arrays), in a scope of its own. */
    private static Batch batchOf(NDManager m, NDList[] d, int batch) {
        NDManager bm = m.newSubManager();
        NDList x = new NDList(d[0].head().duplicate());
        NDList y = new NDList(d[1].head().duplicate());
        x.attach(bm);
        y.attach(bm);
        return new Batch(bm, x, y, batch, Batchifier.STACK, Batchifier.STACK, 0, 1);
    }

    /** One plain DJL training step on {@code b}, which it closes. */
    private static void plainStep(Trainer trainer, Batch b) {
        try (b) {
            EasyTrain.trainBatch(trainer, b);
            trainer.step();
        }
    }

    /** smp4j (partitions 1) vs a plain DJL Trainer loop, same model, data and threads, alternating rounds. */
    static Map<String, Object> run(TrainBench.Options o) throws Exception {
        int batch = o.batchSize;
        int s = o.imageSize;
        int steps = o.steps;
        int rounds = o.rounds;
        SmpConfig cfg = SmpConfig.builder().partitions(1).microbatches(1).ddp(false)
                .flatParameters(o.flatParameters).cudnnBenchmark(o.cudnnBenchmark).build();
        try (Smp smp = Smp.init(cfg); NDManager m = NDManager.newBaseManager(smp.device());
             Model model = Model.newInstance("plain", smp.device())) {
            NDList[] d = TrainBench.data(m, o, batch);
            // Plain DJL.
            Engine.getInstance().setRandomSeed(5);
            model.setBlock(ResNets.build(o.model, s, 10));
            Trainer trainer = model.newTrainer(new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                    .optOptimizer(TrainBench.sgd()).optDevices(new Device[] {smp.device()}));
            trainer.initialize(new Shape(batch, 3, s, s));
            // smp4j.
            Engine.getInstance().setRandomSeed(5);
            Block net = ResNets.build(o.model, s, 10);
            net.initialize(m, DataType.FLOAT32, new Shape(batch, 3, s, s));
            DistributedModel dm = new DistributedModel(smp, net, m);
            DistributedOptimizer opt = new DistributedOptimizer(dm, TrainBench.sgd());
            TrainBench.Body body = new TrainBench.Body();
            List<Double> plain = new ArrayList<>();
            List<Double> ours = new ArrayList<>();
            // CPU time to queue the step (before the synchronisation): above the GPU's time, the GPU waits for it.
            List<Double> plainQueued = new ArrayList<>();
            List<Double> oursQueued = new ArrayList<>();
            for (int round = 0; round < rounds + 1; round++) {
                for (int k = 0; k < steps; k++) {
                    Batch b = batchOf(m, d, batch); // made before the clock starts
                    smp.synchronize();
                    long t0 = System.nanoTime();
                    plainStep(trainer, b);
                    long queued = System.nanoTime();
                    smp.synchronize(); // the step's kernels, not their launches
                    if (round > 0) {
                        plain.add((System.nanoTime() - t0) / 1e6);
                        plainQueued.add((queued - t0) / 1e6);
                    }
                }
                for (int k = 0; k < steps; k++) {
                    smp.synchronize();
                    long t0 = System.nanoTime();
                    smp.step(body, "train", dm, d[0], d[1]);
                    opt.step();
                    long queued = System.nanoTime();
                    smp.synchronize();
                    if (round > 0) {
                        ours.add((System.nanoTime() - t0) / 1e6);
                        oursQueued.add((queued - t0) / 1e6);
                    }
                }
            }
            if (!o.cudaProfile.isEmpty()) {
                // One more step inside a profiler range: its kernels, one by one, for a profiler to time.
                Cuda.profilerRange(true);
                if ("djl".equals(o.cudaProfile)) {
                    plainStep(trainer, batchOf(m, d, batch));
                } else {
                    smp.step(body, "train", dm, d[0], d[1]);
                    opt.step();
                }
                Cuda.profilerRange(false);
            }
            trainer.close();
            Map<String, Object> r = o.asMap();
            double p = Stats.median(plain);
            double q = Stats.median(ours);
            r.put("plain_djl_median_ms", p);
            r.put("smp4j_median_ms", q);
            r.put("ratio", q / p);
            r.put("plain_djl_queued_median_ms", Stats.median(plainQueued));
            r.put("smp4j_queued_median_ms", Stats.median(oursQueued));
            r.put("plain_djl_ms", plain);
            r.put("smp4j_ms", ours);
            return r;
        }
    }
}
