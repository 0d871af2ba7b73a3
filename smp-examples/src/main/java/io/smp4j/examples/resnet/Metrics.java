package io.smp4j.examples.resnet;

import com.google.gson.GsonBuilder;
import io.smp4j.core.Smp;
import io.smp4j.core.train.StepListener;
import io.smp4j.core.train.StepRecord;
import io.smp4j.pipeline.Stats;
import io.smp4j.pipeline.partition.PartitionPlan;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What {@code --metrics-json} writes (rank 0): the layout, one loss and time per step, throughput, plan, accuracy. */
final class Metrics implements StepListener {
    /** The name of the training accuracy among a step's extra values. */
    static final String ACCURACY = "train accuracy";
    private final Map<String, Object> root = new LinkedHashMap<>();
    private final List<Integer> stepNumbers = new ArrayList<>();
    private final List<Float> losses = new ArrayList<>();
    private final List<Double> stepMillis = new ArrayList<>();
    private final List<Float> trainAccuracy = new ArrayList<>();
    private final List<Map<String, Object>> validations = new ArrayList<>();
    private final int globalBatch;
    private final long started = System.nanoTime();
    private double lastVal = -1;

    Metrics(Smp smp, TrainOptions o) {
        globalBatch = o.batchSize * smp.dpSize();
        root.put("model", "resnet18");
        root.put("world_size", smp.size());
        root.put("partitions", smp.ppSize());
        root.put("dp_size", smp.dpSize());
        root.put("microbatches", smp.config().microbatches());
        root.put("pipeline", smp.config().pipeline());
        root.put("placement_strategy", smp.config().placementStrategy());
        root.put("ddp", smp.config().ddp());
        root.put("batch_size", o.batchSize);
        root.put("global_batch_size", globalBatch);
        root.put("image_size", o.imageSize);
        root.put("lr", o.lr);
        root.put("seed", o.seed);
        root.put("data", o.data == null ? "generated" : o.data.toString());
    }

    @Override
    public void onStep(StepRecord r) {
        stepNumbers.add((int) r.step());
        losses.add(r.loss());
        stepMillis.add(r.millis());
        trainAccuracy.add(r.extra().getOrDefault(ACCURACY, Double.NaN).floatValue());
    }

    void valAccuracy(int step, double acc) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("step", step);
        v.put("accuracy", acc);
        validations.add(v);
        lastVal = acc;
    }

    void plan(PartitionPlan plan) {
        List<Map<String, Object>> stages = new ArrayList<>();
        for (int s = 0; s < plan.stages(); s++) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("stage", s);
            List<String> names = new ArrayList<>();
            for (int u = plan.firstUnit(s); u < plan.endUnit(s); u++) {
                names.add(plan.units().get(u).name());
            }
            m.put("first_unit", plan.firstUnit(s));
            m.put("end_unit", plan.endUnit(s));
            m.put("units", names);
            m.put("parameters", plan.stageParameters(s));
            m.put("cost_ms", plan.stageTimeMillis(s));
            m.put("memory_bytes", plan.stageMemoryBytes(s));
            stages.add(m);
        }
        root.put("partition_plan", stages);
    }

    int steps() {
        return losses.size();
    }

    double lastValAccuracy() {
        return lastVal;
    }

    /** Median over the steps after the first (the first partitions the model and warms up). */
    double medianSamplesPerSecond() {
        List<Double> t = stepMillis.size() > 1 ? stepMillis.subList(1, stepMillis.size()) : stepMillis;
        return t.isEmpty() ? 0 : globalBatch / (Stats.median(t) / 1e3);
    }

    void write(Path file) throws IOException {
        root.put("steps", losses.size());
        root.put("first_step", stepNumbers.isEmpty() ? 0 : stepNumbers.get(0));
        root.put("loss", losses);
        root.put("step_time_ms", stepMillis);
        root.put("train_accuracy", trainAccuracy);
        root.put("samples_per_second", medianSamplesPerSecond());
        root.put("val_accuracy", lastVal >= 0 ? lastVal : null);
        root.put("validation", validations);
        root.put("wall_time_s", (System.nanoTime() - started) / 1e9);
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.writeString(file, new GsonBuilder().setPrettyPrinting().serializeNulls().create().toJson(root));
    }
}
