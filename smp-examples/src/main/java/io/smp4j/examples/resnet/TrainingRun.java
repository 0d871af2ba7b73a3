package io.smp4j.examples.resnet;

import ai.djl.basicmodelzoo.cv.classification.ResNetV1;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import io.smp4j.comm.ReduceOp;
import io.smp4j.core.Checkpoints;
import io.smp4j.core.DistributedModel;
import io.smp4j.core.DistributedOptimizer;
import io.smp4j.core.Smp;
import io.smp4j.core.StepOutput;
import io.smp4j.core.Timeline;
import io.smp4j.core.TimelineWriter;
import io.smp4j.core.train.CheckpointListener;
import io.smp4j.core.train.ReplicaSampler;
import io.smp4j.core.train.StepListener;
import io.smp4j.core.train.StepListeners;
import io.smp4j.core.train.StepRecord;
import io.smp4j.examples.support.Console;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** One training run of the ResNet18 example on this rank: the loop, resume, validation, trace and metrics. */
final class TrainingRun {
    final Smp smp;
    final NDManager manager;
    final TrainOptions o;
    final ImageData.SortedImageFolder train;
    final ImageData.SortedImageFolder val;
    final List<String> classes;
    final Metrics metrics;
    final Console console;
    final ReplicaSampler order;
    final ResNet18Steps steps = new ResNet18Steps();
    final int replicas;
    final int globalBatch;
    final int total;
    final int perEpoch;

    TrainingRun(Smp smp, NDManager manager, TrainOptions o, Path data) throws Exception {
        this.smp = smp;
        this.manager = manager;
        this.o = o;
        train = ImageData.open(data.resolve("train"), o.imageSize);
        val = ImageData.open(data.resolve("val"), o.imageSize);
        classes = train.getSynset();
        if (!classes.equals(val.getSynset())) {
            throw new IllegalArgumentException("train classes " + classes + " and val classes "
                    + val.getSynset() + " differ");
        }
        metrics = new Metrics(smp, o);
        console = new Console(smp.rank() == 0);
        replicas = smp.dpSize();
        globalBatch = o.batchSize * replicas;
        order = new ReplicaSampler(smp, o.batchSize, o.seed);
        perEpoch = order.stepsPerEpoch(train.size());
        if (perEpoch == 0) {
            throw new IllegalArgumentException("the training set has " + train.size() + " images, fewer than one "
                    + "global batch of " + globalBatch + " (--batch-size " + o.batchSize + " x " + replicas
                    + " replicas)");
        }
        total = o.steps > 0 ? o.steps : o.epochs * perEpoch;
    }

    void train() throws Exception {
        describe();
        DistributedModel model = model();
        DistributedOptimizer opt = new DistributedOptimizer(model, Optimizer.sgd()
                .setLearningRateTracker(Tracker.fixed(o.lr)).optMomentum(0.9f).build());
        int start = o.run.resumeNow() ? resume(model, opt) : 0;
        Timeline timeline = o.run.trace != null ? smp.startTimeline() : null;
        StepListeners listeners = StepListeners.of(console, metrics, new StepListener() {
            @Override
            public void onStep(StepRecord r) {
                if (r.step() % o.run.logEvery == 0 || r.step() == total) {
                    console.say("step %d/%d epoch %d: loss %.4f, train accuracy %.3f, %.1f samples/s, step %.0f ms",
                            r.step(), total, r.epoch(), r.loss(), r.extra().get(Metrics.ACCURACY), r.samplesPerSecond(),
                            r.millis());
                }
            }
        });
        if (o.run.checkpointDir != null) {
            listeners.add(new CheckpointListener(model, opt, o.run.checkpointDir, o.run.checkpointEvery, true));
        }
        try (BatchPrefetcher batches = new BatchPrefetcher(train, order, o.prefetch, o.loaderThreads, total,
                smp.device())) {
            loop(model, opt, batches, timeline, start, listeners);
        }
        if (timeline != null) {
            writeTrace(timeline, start);
        }
        finish(model);
    }

    private void loop(DistributedModel model, DistributedOptimizer opt, BatchPrefetcher batches, Timeline timeline,
                      int start, StepListeners listeners) throws Exception {
        for (int s = start; s < total; s++) {
            if (s == start || s % perEpoch == 0) {
                console.epoch(s / perEpoch + 1, perEpoch);
            }
            if (timeline != null) {
                timeline.setStep(s + 1);
                timeline.setRecording(s > start && s <= start + o.run.traceSteps);
            }
            listeners.onStep(trainStep(model, opt, batches, s));
            boolean epochEnd = (s + 1) % perEpoch == 0 || s + 1 == total;
            if (epochEnd) {
                listeners.onEpochEnd(s / perEpoch + 1, s + 1);
            }
            if (o.eval() && epochEnd) {
                double acc = evaluate(model);
                if (acc >= 0) {
                    metrics.valAccuracy(s + 1, acc);
                }
            }
        }
        listeners.onTrainingEnd(total);
    }

    private void describe() {
        console.say("ResNet18: %d classes %s, %d training / %d validation images of %dx%d, %d step(s) of %d "
                        + "(%d per replica, %d microbatches), %d per epoch", classes.size(),
                classes, train.size(), val.size(), o.imageSize, o.imageSize, total, globalBatch,
                o.batchSize, smp.config().microbatches(), perEpoch);
        console.say("layout: %d ranks = %d stage(s) x %d replica(s), %s pipeline, placement %s", smp.size(),
                smp.ppSize(), replicas, smp.config().pipeline(), smp.config().placementStrategy());
        smp.rankNames().forEach(r -> console.say("  %s", r));
    }

    /** The same initial model on every rank and layout: it depends only on the seed. */
    private DistributedModel model() {
        Engine.getInstance().setRandomSeed((int) o.seed);
        Block resnet = ResNetV1.builder().setImageShape(new Shape(3, o.imageSize, o.imageSize)).setNumLayers(18)
                .setOutSize(classes.size()).build();
        int micro = o.batchSize / smp.config().microbatches();
        resnet.initialize(manager, DataType.FLOAT32, new Shape(micro, 3, o.imageSize, o.imageSize));
        return new DistributedModel(smp, resnet, manager);
    }

    /** Partitions at the saved stage boundaries (not a new, timing-based plan) and loads; returns the step. */
    private int resume(DistributedModel model, DistributedOptimizer opt) throws Exception {
        Checkpoints.placeLikeLatest(model, o.run.checkpointDir);
        try (NDManager s = manager.newSubManager()) {
            NDList[] b = ImageData.batch(train, s, order.indices(train.size(), 0));
            model.partition(new NDList(b[0].head().get("0:" + o.batchSize / smp.config().microbatches())));
        }
        int start = (int) Checkpoints.loadLatest(model, opt, o.run.checkpointDir);
        console.say("resumed from %s at step %d", o.run.checkpointDir, start);
        return start;
    }

    /** Step {@code s} (from 0): this replica's slice, one pipelined step, the update, the global batch's metrics. */
    private StepRecord trainStep(DistributedModel model, DistributedOptimizer opt, BatchPrefetcher batches, int s)
            throws Exception {
        float[] lossAndCorrect;
        long t0 = System.nanoTime();
        try (BatchPrefetcher.Batch b = batches.take(s)) {
            StepOutput out = smp.step(steps, "trainStep", model, b.images(), b.labels());
            opt.step();
            lossAndCorrect = new float[] {out.reduceMean().getFloat(), out.value(1).reduceSum().getFloat()};
        }
        smp.synchronize(); // the step's kernels, not their launches
        double ms = (System.nanoTime() - t0) / 1e6;
        // Every replica's mean loss -> the global batch's mean loss (all microbatches weigh the same).
        smp.dataParallelGroup().allReduce(lossAndCorrect, ReduceOp.SUM);
        return new StepRecord(s + 1, s / perEpoch + 1, lossAndCorrect[0] / replicas, ms, globalBatch,
                Map.of(Metrics.ACCURACY, (double) lossAndCorrect[1] / globalBatch));
    }

    /** Validation accuracy over the whole global batches of the validation set (-1 when it has none). */
    double evaluate(DistributedModel model) throws Exception {
        int batches = (int) (val.size() / globalBatch);
        if (batches == 0) {
            console.say("validation skipped: %d images, fewer than one global batch of %d", val.size(),
                    globalBatch);
            return -1;
        }
        model.eval();
        float[] correct = {0};
        try {
            for (int b = 0; b < batches; b++) {
                int from = b * globalBatch + smp.dpRank() * o.batchSize;
                int[] idx = new int[o.batchSize];
                for (int i = 0; i < idx.length; i++) {
                    idx[i] = from + i;
                }
                try (NDManager scope = manager.newSubManager()) {
                    NDList[] x = ImageData.batch(val, scope, idx);
                    correct[0] += smp.step(steps, "evalStep", model, x[0], x[1]).reduceSum().getFloat();
                }
            }
        } finally {
            model.train();
        }
        smp.dataParallelGroup().allReduce(correct, ReduceOp.SUM);
        double acc = correct[0] / (double) (batches * globalBatch);
        console.say("validation: accuracy %.3f on %d images%s", acc, batches * globalBatch,
                batches * globalBatch < val.size() ? " (" + (val.size() - batches * globalBatch)
                        + " left over: not a whole global batch)" : "");
        return acc;
    }

    /** Every rank's intervals to rank 0, written as a Chrome trace and an SVG picture. */
    private void writeTrace(Timeline timeline, int start) throws Exception {
        List<Timeline.Event> events = timeline.gather(smp.world());
        if (smp.rank() != 0) {
            return;
        }
        TimelineWriter.chromeTrace(events, smp.rankNames(), o.run.trace);
        Path svg = o.run.svg();
        TimelineWriter.svg(events, smp.rankNames(), String.format(Locale.ROOT,
                "ResNet18, %d stage(s) x %d replica(s), %s pipeline, %d microbatches: steps %d-%d",
                smp.ppSize(), replicas, smp.config().pipeline(), smp.config().microbatches(), start + 2,
                Math.min(total, start + 1 + o.run.traceSteps)), svg);
        console.say("trace: %s (Perfetto / chrome://tracing), picture: %s", o.run.trace, svg);
    }

    private void finish(DistributedModel model) throws Exception {
        if (smp.rank() != 0) {
            return;
        }
        metrics.plan(model.plan());
        if (o.run.metricsJson != null) {
            metrics.write(o.run.metricsJson);
            console.say("metrics: %s", o.run.metricsJson);
        }
        console.say("done: %d steps, median %.1f samples/s%s", metrics.steps(), metrics.medianSamplesPerSecond(),
                metrics.lastValAccuracy() >= 0 ? String.format(Locale.ROOT, ", validation accuracy %.3f",
                        metrics.lastValAccuracy()) : "");
    }
}
