package io.smp4j.examples.gpt;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import com.google.gson.GsonBuilder;
import io.smp4j.comm.ReduceOp;
import io.smp4j.core.Checkpoints;
import io.smp4j.core.DistributedModel;
import io.smp4j.core.DistributedOptimizer;
import io.smp4j.core.Smp;
import io.smp4j.core.StepOutput;
import io.smp4j.core.Timeline;
import io.smp4j.core.TimelineWriter;
import io.smp4j.core.train.CheckpointListener;
import io.smp4j.core.train.StepListener;
import io.smp4j.core.train.StepListeners;
import io.smp4j.core.train.StepRecord;
import io.smp4j.examples.support.Console;
import io.smp4j.examples.support.ProcessMemory;
import io.smp4j.pipeline.Stats;
import io.smp4j.pipeline.model.SeededInit;
import io.smp4j.pipeline.partition.PartitionPlan;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** One run of the gpt example on this rank: model, loop, checkpoints, trace, metrics with every rank's memory. */
final class GptRun {
    private final Smp smp;
    private final NDManager manager;
    private final GptOptions o;
    private final Gpt.Config shape;
    private final TextCorpus text;
    private final Console console;
    private final GptSteps steps = new GptSteps();
    private final List<Float> losses = new ArrayList<>();
    private final List<Double> stepMillis = new ArrayList<>();
    /** Per step: the CPU's time until the step's work was queued (before the loss is read, which waits for it). */
    private final List<Double> queuedMillis = new ArrayList<>();
    /** fp16's loss scale among a step's extra values (0 without fp16). */
    private static final String LOSS_SCALE = "loss scale";

    GptRun(Smp smp, NDManager manager, GptOptions o) {
        this.smp = smp;
        this.manager = manager;
        this.o = o;
        this.shape = o.shape;
        this.text = TextCorpus.open(o.text);
        this.console = new Console(smp.rank() == 0);
    }

    void train() throws Exception {
        console.say("gpt: %d layers, hidden %d, %d heads, %d tokens per sequence, vocabulary %d: %.1f M parameters "
                        + "(%.0f MB in fp32); text: %s (%d bytes)", o.layers, o.hidden, o.heads, o.seqLen, o.vocab,
                shape.parameters() / 1e6, shape.parameters() * 4 / 1e6, text.source(), text.size());
        console.say("layout: %d ranks = %d stage(s) x %d replica(s), %s pipeline, %d microbatches, %s, %s", smp.size(),
                smp.ppSize(), smp.dpSize(), smp.config().pipeline(), smp.config().microbatches(),
                smp.config().bf16() ? "bf16" : smp.config().fp16() ? "fp16" : "fp32",
                o.eagerInit ? "whole model initialised on every rank" : "delayed initialisation");
        Block gpt = Gpt.build(shape);
        DistributedModel model;
        if (o.eagerInit) {
            SeededInit.apply(gpt, o.seed); // the same values delayed initialisation gives
            int micro = o.batchSize / smp.config().microbatches();
            gpt.initialize(manager, DataType.FLOAT32, new Shape(micro, o.seqLen));
            model = new DistributedModel(smp, gpt, manager);
        } else {
            model = DistributedModel.delayed(smp, gpt, manager, o.seed);
        }
        DistributedOptimizer opt = new DistributedOptimizer(model,
                Optimizer.adam().optLearningRateTracker(Tracker.fixed(o.lr)).build());
        int start = 0;
        if (o.run.resumeNow()) {
            Checkpoints.placeLikeLatest(model, o.run.checkpointDir);
            int micro = o.batchSize / smp.config().microbatches();
            model.partition(new ai.djl.ndarray.types.DataDesc(new Shape(micro, o.seqLen), DataType.INT32));
            start = (int) Checkpoints.loadLatest(model, opt, o.run.checkpointDir);
            console.say("resumed from %s at step %d", o.run.checkpointDir, start);
        }
        Timeline timeline = o.run.trace != null ? smp.startTimeline() : null;
        StepListeners listeners = StepListeners.of(console, new StepListener() {
            @Override
            public void onStep(StepRecord r) {
                losses.add(r.loss());
                stepMillis.add(r.millis());
                if (r.step() % o.run.logEvery == 0 || r.step() == o.steps) {
                    double scale = r.extra().getOrDefault(LOSS_SCALE, 0.0);
                    console.say("step %d/%d: loss %.4f, %.0f tokens/s, step %.0f ms%s", r.step(), o.steps, r.loss(),
                            r.samplesPerSecond() * o.seqLen, r.millis(),
                            scale > 0 ? String.format(Locale.ROOT, ", loss scale %.0f", scale) : "");
                }
            }
        });
        if (o.run.checkpointDir != null) {
            listeners.add(new CheckpointListener(model, opt, o.run.checkpointDir, o.run.checkpointEvery, false));
        }
        console.epoch(1, o.steps - start);
        for (int s = start; s < o.steps; s++) {
            if (timeline != null) {
                timeline.setStep(s + 1);
                timeline.setRecording(s > start && s <= start + o.run.traceSteps);
            }
            boolean profiled = s + 1 == o.cudaProfileStep;
            if (profiled) {
                io.smp4j.core.device.Cuda.profilerRange(true); // its kernels, one by one, for a profiler to time
            }
            listeners.onStep(step(model, opt, s));
            if (profiled) {
                io.smp4j.core.device.Cuda.profilerRange(false);
            }
        }
        listeners.onEpochEnd(1, o.steps);
        listeners.onTrainingEnd(o.steps);
        if (timeline != null) {
            List<Timeline.Event> events = timeline.gather(smp.world());
            if (smp.rank() == 0) {
                TimelineWriter.chromeTrace(events, smp.rankNames(), o.run.trace);
                TimelineWriter.svg(events, smp.rankNames(), String.format(Locale.ROOT,
                        "gpt, %d stage(s) x %d replica(s), %s pipeline, %d microbatches", smp.ppSize(), smp.dpSize(),
                        smp.config().pipeline(), smp.config().microbatches()),
                        o.run.svg());
                console.say("trace: %s (Perfetto / chrome://tracing) and its .svg", o.run.trace);
            }
        }
        finish(model);
    }

    /** Step {@code s} (from 0): this replica's rows of the global batch, one pipelined step, the update. */
    private StepRecord step(DistributedModel model, DistributedOptimizer opt, int s) {
        int replicas = smp.dpSize();
        long t0 = System.nanoTime();
        float[] loss;
        try (NDManager scope = manager.newSubManager()) {
            NDList[] b = text.batch(scope, o.seed, s, o.batchSize * replicas, smp.dpRank() * o.batchSize,
                    o.batchSize, o.seqLen);
            StepOutput out = smp.step(steps, "trainStep", model, b[0], b[1]);
            opt.step();
            queuedMillis.add((System.nanoTime() - t0) / 1e6);
            loss = new float[] {out.reduceMean().getFloat()};
        }
        smp.synchronize();
        double ms = (System.nanoTime() - t0) / 1e6;
        smp.dataParallelGroup().allReduce(loss, ReduceOp.SUM);
        return new StepRecord(s + 1, 1, loss[0] / replicas, ms, (long) o.batchSize * replicas,
                Map.of(LOSS_SCALE, (double) opt.lossScale()));
    }

    /** Every rank's peak resident memory to rank 0; the metrics file there. */
    private void finish(DistributedModel model) throws Exception {
        byte[][] all = smp.world().allGather(ByteBuffer.allocate(8).putDouble(ProcessMemory.peakRssMb()).array());
        double[] peaks = new double[all.length];
        for (int r = 0; r < all.length; r++) {
            peaks[r] = ByteBuffer.wrap(all[r]).getDouble();
        }
        if (smp.rank() != 0) {
            return;
        }
        double worst = 0;
        for (double p : peaks) {
            worst = Math.max(worst, p);
        }
        console.say("done: %d steps, loss %.4f -> %.4f, median step %.0f ms; peak resident memory per rank (MB) %s, "
                        + "largest %.0f", losses.size(), losses.isEmpty() ? Float.NaN : losses.get(0),
                losses.isEmpty() ? Float.NaN : losses.get(losses.size() - 1), Stats.median(stepMillis),
                java.util.Arrays.toString(java.util.Arrays.stream(peaks).map(Math::rint).toArray()), worst);
        if (o.run.metricsJson == null) {
            return;
        }
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("model", "gpt");
        root.put("layers", o.layers);
        root.put("hidden", o.hidden);
        root.put("heads", o.heads);
        root.put("seq_len", o.seqLen);
        root.put("vocab", o.vocab);
        root.put("parameters", shape.parameters());
        root.put("world_size", smp.size());
        root.put("partitions", smp.ppSize());
        root.put("dp_size", smp.dpSize());
        root.put("microbatches", smp.config().microbatches());
        root.put("pipeline", smp.config().pipeline());
        root.put("precision", smp.config().bf16() ? "bf16" : smp.config().fp16() ? "fp16" : "fp32");
        root.put("delayed_initialization", !o.eagerInit);
        root.put("batch_size", o.batchSize);
        root.put("text", text.source());
        root.put("losses", losses);
        root.put("step_ms", stepMillis);
        root.put("median_step_ms", Stats.median(stepMillis));
        root.put("queued_ms", queuedMillis);
        root.put("peak_rss_mb", peaks);
        root.put("largest_peak_rss_mb", worst);
        PartitionPlan plan = model.plan();
        List<Integer> bounds = new ArrayList<>();
        for (int s = 0; s <= plan.stages(); s++) {
            bounds.add(s == plan.stages() ? plan.units().size() : plan.firstUnit(s));
        }
        root.put("stage_boundaries", bounds);
        Files.writeString(o.run.metricsJson, new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues()
                .create().toJson(root));
        console.say("metrics: %s", o.run.metricsJson);
    }
}
