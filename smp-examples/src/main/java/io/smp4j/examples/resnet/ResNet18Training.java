package io.smp4j.examples.resnet;

import ai.djl.basicmodelzoo.cv.classification.ResNetV1;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.training.util.ProgressBar;
import io.smp4j.comm.CommException;
import io.smp4j.comm.ReduceOp;
import io.smp4j.comm.launch.LaunchInfo;
import io.smp4j.core.Checkpoints;
import io.smp4j.core.DistributedModel;
import io.smp4j.core.FileTrees;
import io.smp4j.core.DistributedOptimizer;
import io.smp4j.core.Smp;
import io.smp4j.core.Step;
import io.smp4j.core.StepOutput;
import io.smp4j.core.Timeline;
import io.smp4j.core.TimelineWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * The main job: ResNet18 image classification split across ranks, pipeline stages x data-parallel replicas, as the
 * SageMaker example trains it on hymenoptera_data (ants vs bees). {@code ./smp run -np N resnet18 [options]}, or
 * the same program under {@code mpirun}; see {@link TrainOptions#USAGE}.
 *
 * <p>Data-parallel replica r of R takes the r-th contiguous slice of each global batch; the initial model, the
 * sample order and the generated images depend only on the seed, so any two layouts of one job train the same model
 * (up to float re-association).
 */
public final class ResNet18Training {
    /** The step bodies, run per microbatch by {@link Smp#step}. */
    public static final class Steps {
        private final Loss loss = Loss.softmaxCrossEntropyLoss();

        @Step
        public NDList trainStep(DistributedModel model, NDList images, NDList labels) {
            NDList out = model.forward(images);
            NDArray l = loss.evaluate(labels, out);
            model.backward(l);
            return new NDList(l, correct(out, labels));
        }

        @Step
        public NDArray evalStep(DistributedModel model, NDList images, NDList labels) {
            return correct(model.forward(images), labels);
        }

        private static NDArray correct(NDList logits, NDList labels) {
            return logits.head().argMax(1).toType(DataType.INT64, false)
                    .eq(labels.head().toType(DataType.INT64, false)).sum().toType(DataType.FLOAT32, false);
        }
    }

    private ResNet18Training() {
    }

    public static void main(String[] args) throws Exception {
        int rank = launchRank();
        TrainOptions o;
        try {
            o = TrainOptions.parse(List.of(args));
        } catch (IllegalArgumentException e) {
            // Every rank parses the same arguments: one message is enough.
            if (rank == 0) {
                System.err.println("resnet18: " + e.getMessage() + " (--help lists the options)");
            }
            System.exit(2);
            return;
        }
        if (o.usage != null) {
            if (rank == 0) {
                System.out.print(o.usage);
            }
            System.exit(0);
            return;
        }
        int code = 0;
        Path generated = null;
        try (Smp smp = Smp.init(o.smp); NDManager manager = NDManager.newBaseManager()) {
            Path data = o.data;
            if (data == null) {
                generated = Files.createTempDirectory("smp4j-images-");
                ImageData.generate(generated, o.seed, o.generatedImages);
                data = generated;
            }
            Run run = new Run(smp, manager, o, data);
            run.train();
        } catch (IllegalArgumentException e) {
            // A configuration problem every rank finds alike: one message is enough.
            if (rank == 0) {
                System.err.println("resnet18: " + e.getMessage());
            }
            code = 2;
        } catch (CommException e) {
            // A lost or silent peer (timeout, closed connection): say which, and leave at once. Closing the
            // communicator would wait on the very peer that is gone.
            System.err.println("resnet18: rank " + rank + " stops: " + e.getMessage());
            code = 3;
        } catch (RuntimeException | Error e) {
            e.printStackTrace();
            code = 1;
        } finally {
            FileTrees.delete(generated);
        }
        System.out.flush();
        System.err.flush();
        // halt, not exit: MPJ's threads and shutdown hooks must not keep a failed rank alive.
        Runtime.getRuntime().halt(code);
    }

    /** This process's rank from the launcher's environment; 0 when it is unusable (Smp.init then says why). */
    static int launchRank() {
        try {
            return LaunchInfo.fromEnvironment(System.getenv()).rank();
        } catch (IllegalArgumentException e) {
            return 0;
        }
    }

    /** One training run on this rank. */
    static final class Run {
        final Smp smp;
        final NDManager manager;
        final TrainOptions o;
        final ImageData.SortedImageFolder train;
        final ImageData.SortedImageFolder val;
        final Metrics metrics;
        final Steps steps = new Steps();
        final boolean chief;
        /** The sample order of epoch {@code permEpoch}, made once per epoch. */
        private int[] perm;
        private int permEpoch = -1;

        Run(Smp smp, NDManager manager, TrainOptions o, Path data) throws Exception {
            this.smp = smp;
            this.manager = manager;
            this.o = o;
            this.chief = smp.rank() == 0;
            train = ImageData.open(data.resolve("train"), o.imageSize);
            val = ImageData.open(data.resolve("val"), o.imageSize);
            if (!train.getSynset().equals(val.getSynset())) {
                throw new IllegalArgumentException("train classes " + train.getSynset() + " and val classes "
                        + val.getSynset() + " differ");
            }
            metrics = new Metrics(smp, o);
        }

        void train() throws Exception {
            int classes = train.getSynset().size();
            int replicas = smp.dpSize();
            int global = o.batchSize * replicas;
            long n = train.size();
            int perEpoch = (int) (n / global);
            if (perEpoch == 0) {
                throw new IllegalArgumentException("the training set has " + n + " images, fewer than one global "
                        + "batch of " + global + " (--batch-size " + o.batchSize + " x " + replicas + " replicas)");
            }
            int total = o.steps > 0 ? o.steps : o.epochs * perEpoch;
            if (chief) {
                say("ResNet18: %d classes %s, %d training / %d validation images of %dx%d, %d step(s) of %d "
                                + "(%d per replica, %d microbatches), %d per epoch",
                        classes, train.getSynset(), n, val.size(), o.imageSize, o.imageSize, total, global,
                        o.batchSize, smp.config().microbatches(), perEpoch);
                say("layout: %d ranks = %d stage(s) x %d replica(s), %s pipeline, placement %s", smp.size(),
                        smp.ppSize(), replicas, smp.config().pipeline(), smp.config().placementStrategy());
                smp.rankNames().forEach(r -> say("  %s", r));
            }

            Engine.getInstance().setRandomSeed((int) o.seed);
            Block resnet = ResNetV1.builder().setImageShape(new Shape(3, o.imageSize, o.imageSize)).setNumLayers(18)
                    .setOutSize(classes).build();
            int micro = o.batchSize / smp.config().microbatches();
            resnet.initialize(manager, DataType.FLOAT32, new Shape(micro, 3, o.imageSize, o.imageSize));
            DistributedModel model = new DistributedModel(smp, resnet, manager);
            DistributedOptimizer opt = new DistributedOptimizer(model, Optimizer.sgd()
                    .setLearningRateTracker(Tracker.fixed(o.lr)).optMomentum(0.9f).build());

            int start = 0;
            if (o.resume) {
                // The saved stage boundaries, not a new (timing-based) plan.
                Checkpoints.placeLikeLatest(model, o.checkpointDir);
                try (NDManager s = manager.newSubManager()) {
                    NDList[] b = ImageData.batch(train, s, order(0, n, perEpoch, global, 0));
                    model.partition(new NDList(b[0].head().get("0:" + micro)));
                }
                start = (int) Checkpoints.loadLatest(model, opt, o.checkpointDir);
                if (chief) {
                    say("resumed from %s at step %d", o.checkpointDir, start);
                }
            }
            Timeline timeline = o.trace != null ? smp.startTimeline() : null;

            ProgressBar bar = null;
            int epoch = -1;
            for (int s = start; s < total; s++) {
                if (s / perEpoch != epoch) {
                    epoch = s / perEpoch;
                    if (chief) {
                        bar = new ProgressBar("epoch " + (epoch + 1), perEpoch);
                    }
                }
                if (timeline != null) {
                    timeline.setStep(s + 1);
                    timeline.setRecording(s > start && s <= start + o.traceSteps);
                }
                float[] lossAndCorrect;
                long t0 = System.nanoTime();
                try (NDManager scope = manager.newSubManager()) {
                    NDList[] b = ImageData.batch(train, scope, order(s, n, perEpoch, global, smp.dpRank() * o.batchSize));
                    StepOutput out = smp.step(steps, "trainStep", model, b[0], b[1]);
                    opt.step();
                    lossAndCorrect = new float[] {out.reduceMean().getFloat(), out.value(1).reduceSum().getFloat()};
                }
                double ms = (System.nanoTime() - t0) / 1e6;
                // Every replica's mean loss -> the global batch's mean loss (all microbatches weigh the same).
                smp.dataParallelGroup().allReduce(lossAndCorrect, ReduceOp.SUM);
                float loss = lossAndCorrect[0] / replicas;
                metrics.step(s + 1, loss, ms, lossAndCorrect[1] / global);
                if (chief) {
                    // DJL's ProgressBar counts from 0: update(k) draws k + 1 of perEpoch.
                    bar.update(s % perEpoch, String.format(Locale.ROOT, "loss %.4f", loss));
                    barOpen = s % perEpoch + 1 < perEpoch;
                    if ((s + 1) % o.logEvery == 0 || s + 1 == total) {
                        say("step %d/%d epoch %d: loss %.4f, train accuracy %.3f, %.1f samples/s, step %.0f ms",
                                s + 1, total, epoch + 1, loss, lossAndCorrect[1] / global, global / (ms / 1e3), ms);
                    }
                }
                boolean epochEnd = (s + 1) % perEpoch == 0;
                if (o.checkpointDir != null && (epochEnd || s + 1 == total
                        || o.checkpointEvery > 0 && (s + 1) % o.checkpointEvery == 0)) {
                    Path p = Checkpoints.save(model, opt, o.checkpointDir, s + 1);
                    if (chief) {
                        say("checkpoint %s", p);
                    }
                }
                if (o.eval() && (epochEnd || s + 1 == total)) {
                    double acc = evaluate(model);
                    if (acc >= 0) {
                        metrics.valAccuracy(s + 1, acc);
                    }
                }
            }
            if (timeline != null) {
                List<Timeline.Event> events = timeline.gather(smp.world());
                if (chief) {
                    TimelineWriter.chromeTrace(events, smp.rankNames(), o.trace);
                    Path svg = svgOf(o.trace);
                    TimelineWriter.svg(events, smp.rankNames(), String.format(Locale.ROOT,
                            "ResNet18, %d stage(s) x %d replica(s), %s pipeline, %d microbatches: steps %d-%d",
                            smp.ppSize(), replicas, smp.config().pipeline(), smp.config().microbatches(), start + 2,
                            Math.min(total, start + 1 + o.traceSteps)), svg);
                    say("trace: %s (Perfetto / chrome://tracing), picture: %s", o.trace, svg);
                }
            }
            if (chief) {
                metrics.plan(model.plan());
                if (o.metricsJson != null) {
                    metrics.write(o.metricsJson);
                    say("metrics: %s", o.metricsJson);
                }
                say("done: %d steps, median %.1f samples/s%s", metrics.steps(), metrics.medianSamplesPerSecond(),
                        metrics.lastValAccuracy() >= 0 ? String.format(Locale.ROOT, ", validation accuracy %.3f",
                                metrics.lastValAccuracy()) : "");
            }
        }

        /**
         * Step {@code s}'s slice for one replica: the epoch's seeded permutation, global batch {@code s % perEpoch},
         * {@code batchSize} images from {@code offset} within it.
         */
        int[] order(int s, long n, int perEpoch, int global, int offset) {
            int epoch = s / perEpoch;
            if (epoch != permEpoch) {
                perm = new int[(int) n];
                for (int i = 0; i < perm.length; i++) {
                    perm[i] = i;
                }
                Random r = new Random(o.seed * 7919L + epoch);
                for (int i = perm.length - 1; i > 0; i--) {
                    int j = r.nextInt(i + 1);
                    int t = perm[i];
                    perm[i] = perm[j];
                    perm[j] = t;
                }
                permEpoch = epoch;
            }
            int from = (s % perEpoch) * global + offset;
            return Arrays.copyOfRange(perm, from, from + o.batchSize);
        }

        /** Validation accuracy over the whole global batches of the validation set (-1 when it has none). */
        double evaluate(DistributedModel model) throws Exception {
            int global = o.batchSize * smp.dpSize();
            int batches = (int) (val.size() / global);
            if (batches == 0) {
                if (chief) {
                    say("validation skipped: %d images, fewer than one global batch of %d", val.size(), global);
                }
                return -1;
            }
            model.eval();
            float[] correct = {0};
            try {
                for (int b = 0; b < batches; b++) {
                    int from = b * global + smp.dpRank() * o.batchSize;
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
            double acc = correct[0] / (double) (batches * global);
            if (chief) {
                say("validation: accuracy %.3f on %d images%s", acc, batches * global,
                        batches * global < val.size() ? " (" + (val.size() - batches * global)
                                + " left over: not a whole global batch)" : "");
            }
            return acc;
        }
    }

    static Path svgOf(Path trace) {
        String name = trace.getFileName().toString();
        return trace.resolveSibling(name.substring(0, name.length() - ".json".length()) + ".svg");
    }

    /** True while a progress bar's line is the console's current line (it redraws with carriage returns). */
    private static boolean barOpen;

    static void say(String format, Object... args) {
        if (barOpen) {
            System.out.println();
            barOpen = false;
        }
        System.out.println(String.format(Locale.ROOT, format, args));
    }
}
