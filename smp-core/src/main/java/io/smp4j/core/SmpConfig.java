package io.smp4j.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import ai.djl.ndarray.types.DataType;
import io.smp4j.comm.Topology;
import io.smp4j.pipeline.djl.DjlInternals;
import io.smp4j.pipeline.schedule.Schedule;
import io.smp4j.pipeline.schedule.ScheduleText;
import io.smp4j.pipeline.schedule.Schedules;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/*
 * Longer than 300 lines on purpose: the keys, their defaults, their parsing from JSON or a map and their validation are
 * one contract (SageMaker's modelparallel dict), kept in one file so that a key is added, defaulted, parsed and checked
 * in one place; splitting the parser out made a file cycle (the record names its parser, the parser builds the record).
 */

/**
 * smp4j's configuration, in the vocabulary of SageMaker's {@code modelparallel.parameters} and {@code mpi} dicts,
 * with SageMaker's defaults. Read from JSON ({@link #fromJson}, {@link #fromFile}; {@code SMP_CONFIG} or
 * {@code -Dsmp.config} name a file), from a {@code Map}, or built with {@link #builder()}.
 *
 * <p>Every problem is reported before any work: an unknown key names the nearest known one, a wrong value names
 * the key, the value and what is allowed.
 *
 * <pre>{@code
 * SmpConfig cfg = SmpConfig.fromJson("""
 *     {"partitions": 2, "microbatches": 4, "pipeline": "interleaved", "ddp": true,
 *      "mpi": {"processes_per_host": 4}}""");
 * }</pre>
 *
 * @param partitions          pipeline stages per model replica ({@code pipeline_parallel_degree})
 * @param microbatches        microbatches per batch
 * @param pipeline            {@code interleaved} (1F1B) or {@code simple} (all forwards, then all backwards)
 * @param optimize            {@code speed} or {@code memory}: sets the default memory_weight
 * @param memoryWeight        auto-partition weight of memory against time, in [0, 1]
 * @param autoPartition       partition by measured cost; false requires manual placement or default_partition
 * @param defaultPartition    stage of units not placed manually
 * @param ddp                 all-reduce gradients over the data-parallel group (hybrid parallelism)
 * @param placementStrategy   {@code cluster}, {@code spread}, or letters such as {@code DP}
 * @param activeMicrobatches  most microbatches in flight at once
 * @param processesPerHost    {@code mpi.processes_per_host} (0: not set)
 * @param customMpiOptions    {@code mpi.custom_mpi_options}
 * @param processesPerGpu     ranks that may share one GPU (smp4j's {@code processes_per_gpu}, default 1: a GPU each)
 * @param activationCheckpointing every stage but the last keeps only its input per microbatch in flight and
 *                            recomputes its forward inside backward ({@code activation_checkpointing}, default false)
 * @param repartitionSteps    an automatic plan is checked against the stage times measured over this many training
 *                            steps, and again after each change ({@code repartition_steps}, default 5; 0: never)
 * @param virtualStages       model chunks per rank ({@code virtual_stages}, default 1): with v > 1 the model is cut into
 *                            partitions x v stages, rank r runs stages r, r + P, ..., and the interleaved pipeline is
 *                            Megatron's interleaved 1F1B (bubble (P-1)/(vM+P-1)); microbatches must be a multiple of
 *                            partitions
 * @param repartitionThreshold re-partition when the plan from measured times cuts the slowest stage's time by more
 *                            than this fraction ({@code repartition_threshold}, default 0.02; two checks in a row must find
 *                            such a plan)
 * @param overlapAllReduce    with {@code ddp}, average gradients in buckets on a communication thread while the
 *                            earlier units' backward of the last microbatch still runs, as PyTorch DDP does
 *                            ({@code overlap_allreduce}, default true); false: one all-reduce after backward
 * @param bucketCapMb         the least size of such a bucket, in MB ({@code bucket_cap_mb}, default 4; PyTorch DDP's
 *                            is 25, for models far larger than ResNet18's 45 MB)
 * @param traceDevice         where a model of delayed initialisation is measured for partitioning, one unit at a time
 *                            ({@code trace_device}, SageMaker's: {@code gpu}, the default, is the rank's own device;
 *                            {@code cpu} measures on the CPU, for units too large for the GPU besides the stage)
 * @param memoryBudgetMb      the most memory, in MB, one rank's stage may need (parameters, gradients, optimizer
 *                            state, activations of active_microbatches); a plan must fit every rank, else partitioning
 *                            refuses before any work ({@code memory_budget_mb}; default 0: the GPU's free memory on
 *                            a GPU, no limit on the CPU)
 * @param fp16                half precision (float16) for parameters, activations and stage messages, with fp32 master
 *                            weights and dynamic loss scaling ({@code fp16}, default false)
 * @param bf16                bfloat16 likewise, without loss scaling ({@code bf16}, default false)
 * @param flatParameters      a stage's float32 parameters, gradients and optimizer state in one flat buffer each, so
 *                            that an update (DJL's Sgd, Adam, AdamW) and the data-parallel average work on a few large
 *                            arrays instead of one call per parameter ({@code flat_parameters}, default true)
 * @param cudnnBenchmark      cuDNN's benchmark mode on a GPU: each new convolution shape is timed once and its fastest
 *                            algorithm kept ({@code cudnn_benchmark}, default false: on an H100 it gained nothing for
 *                            ResNet18 at 224 px, batch 64 (15.74 ms on, 15.75 ms off, PyTorch 14.83 / 14.71), and its
 *                            choice depends on timing, so runs stop being repeatable)
 * @param scheduleFile        a pipeline schedule written by hand, in the text form of {@code Schedule.lines()} (one
 *                            line per stage: {@code stage 0: F0 SA0 F1 SA1 RG1 B1 RG0 B0}), run in place of
 *                            {@code pipeline}'s after the simulator has checked it ({@code schedule_file}, default "":
 *                            none); its order is kept (no run-ahead)
 */
public record SmpConfig(int partitions, int microbatches, String pipeline, String optimize, double memoryWeight,
                        boolean autoPartition, int defaultPartition, boolean ddp, String placementStrategy,
                        int activeMicrobatches, int processesPerHost, String customMpiOptions, int processesPerGpu,
                        boolean activationCheckpointing, int repartitionSteps, double repartitionThreshold,
                        int virtualStages, boolean overlapAllReduce, double bucketCapMb, String traceDevice,
                        double memoryBudgetMb, boolean fp16, boolean bf16, boolean flatParameters,
                        boolean cudnnBenchmark, String scheduleFile) {

    static final List<String> KEYS = List.of("partitions", "pipeline_parallel_degree", "microbatches", "pipeline",
            "optimize", "memory_weight", "auto_partition", "default_partition", "ddp", "placement_strategy",
            "active_microbatches", "processes_per_gpu", "activation_checkpointing", "repartition_steps",
            "repartition_threshold", "virtual_stages", "overlap_allreduce", "bucket_cap_mb", "trace_device",
            "memory_budget_mb", "fp16", "bf16", "flat_parameters", "cudnn_benchmark", "schedule_file", "mpi");
    static final List<String> MPI_KEYS = List.of("enabled", "processes_per_host", "custom_mpi_options");
    /** SageMaker smp keys smp4j does not implement (yet): named as such rather than taken for typos. */
    static final List<String> NOT_SUPPORTED = List.of("tensor_parallel_degree",
            "shard_optimizer_state", "offload_activations", "activation_loading_horizon", "skip_tracing",
            "prescaled_batch", "deterministic_server", "sharded_data_parallel_degree", "delayed_parameter_initialization");

    /** The configuration of {@code SMP_CONFIG} / {@code -Dsmp.config}, or all defaults with 1 partition. */
    public static SmpConfig fromEnvironment() {
        String file = System.getProperty("smp.config", System.getenv("SMP_CONFIG"));
        return file == null || file.isBlank() ? builder().build() : fromFile(Path.of(file));
    }

    public static SmpConfig fromFile(Path file) {
        try {
            return fromJson(Files.readString(file));
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the smp config file " + file + ": " + e.getMessage(), e);
        }
    }

    /** Parses a JSON object of {@code modelparallel.parameters} keys, optionally with an {@code mpi} object. */
    public static SmpConfig fromJson(String json) {
        return fromMap(jsonToMap(json));
    }

    /**
     * The JSON object as a map (nested objects, e.g. {@code mpi}, as maps; numbers as BigDecimal), for callers that
     * merge a config file with overrides before {@link #fromMap}.
     */
    public static Map<String, Object> jsonToMap(String json) {
        JsonElement root;
        try {
            root = JsonParser.parseString(json);
        } catch (JsonParseException e) {
            throw new IllegalArgumentException("the smp config is not valid JSON: " + rootCause(e));
        }
        if (!root.isJsonObject()) {
            throw new IllegalArgumentException("the smp config must be a JSON object such as {\"partitions\": 2}, got "
                    + root);
        }
        return toMap(root.getAsJsonObject());
    }

    private static String rootCause(Throwable e) {
        while (e.getCause() != null) {
            e = e.getCause();
        }
        return e.getMessage();
    }

    private static Map<String, Object> toMap(JsonObject o) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : o.entrySet()) {
            JsonElement v = e.getValue();
            if (v.isJsonObject()) {
                m.put(e.getKey(), toMap(v.getAsJsonObject()));
            } else if (v.isJsonPrimitive()) {
                JsonPrimitive p = v.getAsJsonPrimitive();
                m.put(e.getKey(), p.isBoolean() ? (Object) p.getAsBoolean()
                        : p.isNumber() ? (Object) p.getAsBigDecimal() : p.getAsString());
            } else {
                m.put(e.getKey(), v.isJsonNull() ? null : v.toString());
            }
        }
        return m;
    }

    /** From a map of SageMaker keys (values: numbers, booleans, strings; {@code mpi}: a map). */
    public static SmpConfig fromMap(Map<String, ?> params) {
        Builder b = builder();
        for (Map.Entry<String, ?> e : params.entrySet()) {
            String key = e.getKey();
            Object v = e.getValue();
            switch (key) {
                case "partitions", "pipeline_parallel_degree" -> b.partitions(integer(key, v));
                case "microbatches" -> b.microbatches(integer(key, v));
                case "pipeline" -> b.pipeline(string(key, v));
                case "optimize" -> b.optimize(string(key, v));
                case "memory_weight" -> b.memoryWeight(number(key, v));
                case "auto_partition" -> b.autoPartition(bool(key, v));
                case "default_partition" -> b.defaultPartition(integer(key, v));
                case "ddp" -> b.ddp(bool(key, v));
                case "placement_strategy" -> b.placementStrategy(string(key, v));
                case "active_microbatches" -> b.activeMicrobatches(integer(key, v));
                case "processes_per_gpu" -> b.processesPerGpu(integer(key, v));
                case "activation_checkpointing" -> b.activationCheckpointing(bool(key, v));
                case "repartition_steps" -> b.repartitionSteps(integer(key, v));
                case "repartition_threshold" -> b.repartitionThreshold(number(key, v));
                case "virtual_stages" -> b.virtualStages(integer(key, v));
                case "overlap_allreduce" -> b.overlapAllReduce(bool(key, v));
                case "bucket_cap_mb" -> b.bucketCapMb(number(key, v));
                case "trace_device" -> b.traceDevice(string(key, v));
                case "memory_budget_mb" -> b.memoryBudgetMb(number(key, v));
                case "fp16" -> b.fp16(bool(key, v));
                case "bf16" -> b.bf16(bool(key, v));
                case "flat_parameters" -> b.flatParameters(bool(key, v));
                case "cudnn_benchmark" -> b.cudnnBenchmark(bool(key, v));
                case "schedule_file" -> b.scheduleFile(string(key, v));
                case "mpi" -> {
                    if (!(v instanceof Map<?, ?> mpi)) {
                        throw new IllegalArgumentException("mpi must be an object such as {\"processes_per_host\": 4}, "
                                + "got " + v);
                    }
                    for (Map.Entry<?, ?> me : mpi.entrySet()) {
                        String mk = String.valueOf(me.getKey());
                        switch (mk) {
                            case "enabled" -> bool("mpi.enabled", me.getValue());
                            case "processes_per_host" -> b.processesPerHost(integer("mpi.processes_per_host",
                                    me.getValue()));
                            case "custom_mpi_options" -> b.customMpiOptions(string("mpi.custom_mpi_options",
                                    me.getValue()));
                            default -> throw unknown("mpi." + mk, MPI_KEYS.stream().map(k -> "mpi." + k).toList());
                        }
                    }
                }
                default -> {
                    if (NOT_SUPPORTED.contains(key)) {
                        throw new IllegalArgumentException("'" + key + "' is a SageMaker smp key that smp4j does not "
                                + "support yet; supported keys: " + String.join(", ", KEYS));
                    }
                    throw unknown(key, KEYS);
                }
            }
        }
        return b.build();
    }

    static IllegalArgumentException unknown(String key, List<String> known) {
        return new IllegalArgumentException("unknown smp config key '" + key + "': " + NearestName.hint(key, known)
                + "known keys: " + String.join(", ", known));
    }

    private static int integer(String key, Object v) {
        if (v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())
                && Math.abs(n.doubleValue()) <= Integer.MAX_VALUE) {
            return n.intValue();
        }
        throw new IllegalArgumentException(key + " must be an integer, got " + describe(v));
    }

    private static double number(String key, Object v) {
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        throw new IllegalArgumentException(key + " must be a number, got " + describe(v));
    }

    private static boolean bool(String key, Object v) {
        if (v instanceof Boolean b) {
            return b;
        }
        throw new IllegalArgumentException(key + " must be true or false, got " + describe(v));
    }

    private static String string(String key, Object v) {
        if (v instanceof String s) {
            return s;
        }
        throw new IllegalArgumentException(key + " must be a string, got " + describe(v));
    }

    private static String describe(Object v) {
        return v instanceof String s ? "\"" + s + "\"" : v instanceof BigDecimal d
                ? d.stripTrailingZeros().toPlainString() : String.valueOf(v);
    }

    /** The hand-written schedule of {@code file}, checked for this layout (see {@link #scheduleFile}). */
    static Schedule schedule(String file, int partitions, int microbatches, int virtualStages) {
        List<String> text;
        try {
            text = Files.readAllLines(Path.of(file));
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("schedule_file " + file + " cannot be read: " + e);
        }
        return ScheduleText.fromText(file, text, partitions, microbatches, virtualStages);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Builder with SageMaker's defaults; {@link #build()} checks every value. */
    public static final class Builder {
        private int partitions = 1;
        private int microbatches = 1;
        private String pipeline = "interleaved";
        private String optimize = "memory";
        private Double memoryWeight;
        private boolean autoPartition = true;
        private int defaultPartition;
        private boolean ddp;
        private String placementStrategy = "cluster";
        private Integer activeMicrobatches;
        private int processesPerHost;
        private String customMpiOptions = "";
        private int processesPerGpu = 1;
        private boolean activationCheckpointing;
        private int repartitionSteps = 5;
        private double repartitionThreshold = 0.02;
        private int virtualStages = 1;
        private boolean overlapAllReduce = true;
        private double bucketCapMb = 4;
        private String traceDevice = "gpu";
        private double memoryBudgetMb;
        private boolean fp16;
        private boolean bf16;
        private boolean flatParameters = true;
        private boolean cudnnBenchmark;
        private String scheduleFile = "";

        /** A hand-written schedule's file (default "": the {@code pipeline} schedule). */
        public Builder scheduleFile(String v) {
            scheduleFile = v;
            return this;
        }

        /** Parameters, gradients and optimizer state in flat buffers (default true). */
        public Builder flatParameters(boolean v) {
            flatParameters = v;
            return this;
        }

        /** cuDNN's benchmark mode on a GPU (default false). */
        public Builder cudnnBenchmark(boolean v) {
            cudnnBenchmark = v;
            return this;
        }

        /** Where a delayed-initialisation model is measured: {@code gpu} (the rank's device) or {@code cpu}. */
        public Builder traceDevice(String v) {
            traceDevice = v;
            return this;
        }

        /** The most memory one rank's stage may need, in MB (0: the GPU's free memory, or no limit on the CPU). */
        public Builder memoryBudgetMb(double v) {
            memoryBudgetMb = v;
            return this;
        }

        /** float16 compute with fp32 master weights and dynamic loss scaling. */
        public Builder fp16(boolean v) {
            fp16 = v;
            return this;
        }

        /** bfloat16 compute with fp32 master weights. */
        public Builder bf16(boolean v) {
            bf16 = v;
            return this;
        }

        /** Whether ddp's gradient all-reduce runs in buckets during backward (else after it, at once). */
        public Builder overlapAllReduce(boolean v) {
            overlapAllReduce = v;
            return this;
        }

        /** The least size of an overlapped all-reduce's bucket, in MB. */
        public Builder bucketCapMb(double v) {
            bucketCapMb = v;
            return this;
        }

        /** Model chunks per rank (virtual stages). */
        public Builder virtualStages(int v) {
            virtualStages = v;
            return this;
        }

        /** Training steps whose measured stage times decide whether an automatic plan changes; 0: never. */
        public Builder repartitionSteps(int v) {
            repartitionSteps = v;
            return this;
        }

        /** The least gain (a fraction of the slowest stage's time) worth re-partitioning for. */
        public Builder repartitionThreshold(double v) {
            repartitionThreshold = v;
            return this;
        }

        public Builder partitions(int v) {
            partitions = v;
            return this;
        }

        public Builder microbatches(int v) {
            microbatches = v;
            return this;
        }

        public Builder pipeline(String v) {
            pipeline = v;
            return this;
        }

        public Builder optimize(String v) {
            optimize = v;
            return this;
        }

        public Builder memoryWeight(double v) {
            memoryWeight = v;
            return this;
        }

        public Builder autoPartition(boolean v) {
            autoPartition = v;
            return this;
        }

        public Builder defaultPartition(int v) {
            defaultPartition = v;
            return this;
        }

        public Builder ddp(boolean v) {
            ddp = v;
            return this;
        }

        public Builder placementStrategy(String v) {
            placementStrategy = v;
            return this;
        }

        public Builder activeMicrobatches(int v) {
            activeMicrobatches = v;
            return this;
        }

        public Builder processesPerHost(int v) {
            processesPerHost = v;
            return this;
        }

        public Builder customMpiOptions(String v) {
            customMpiOptions = v;
            return this;
        }

        /** Every stage but the last keeps only its input per microbatch and recomputes its forward in backward. */
        public Builder activationCheckpointing(boolean v) {
            activationCheckpointing = v;
            return this;
        }

        /** Ranks that may share one GPU: for debugging, and for pipelines on a host with fewer GPUs than stages. */
        public Builder processesPerGpu(int v) {
            processesPerGpu = v;
            return this;
        }

        public SmpConfig build() {
            List<String> problems = new ArrayList<>();
            if (partitions < 1) {
                problems.add("partitions must be >= 1, got " + partitions);
            }
            if (microbatches < 1) {
                problems.add("microbatches must be >= 1, got " + microbatches);
            }
            String pipe = lower(pipeline);
            try {
                Schedules.name(pipeline);
            } catch (IllegalArgumentException e) {
                problems.add(e.getMessage());
            }
            String opt = lower(optimize);
            if (!Set.of("speed", "memory").contains(opt)) {
                problems.add("optimize must be one of speed, memory; got \"" + optimize + "\"");
            }
            double mw = memoryWeight != null ? memoryWeight : "speed".equals(opt) ? 0.2 : 0.8;
            if (!(mw >= 0 && mw <= 1)) {
                problems.add("memory_weight must be in [0, 1], got " + mw);
            }
            if (defaultPartition < 0 || defaultPartition >= Math.max(1, partitions)) {
                problems.add("default_partition must be in 0.." + (Math.max(1, partitions) - 1) + " for "
                        + partitions + " partitions, got " + defaultPartition);
            }
            try {
                Topology.letters(placementStrategy);
            } catch (IllegalArgumentException e) {
                problems.add(e.getMessage());
            }
            int active = activeMicrobatches != null ? activeMicrobatches : partitions + 2;
            if (active < 1) {
                problems.add("active_microbatches must be >= 1, got " + active);
            }
            if (processesPerHost < 0) {
                problems.add("mpi.processes_per_host must be >= 1, got " + processesPerHost);
            }
            if (processesPerGpu < 1) {
                problems.add("processes_per_gpu must be >= 1, got " + processesPerGpu);
            }
            if (repartitionSteps < 0) {
                problems.add("repartition_steps must be >= 0 (0: never), got " + repartitionSteps);
            }
            if (!(repartitionThreshold >= 0 && repartitionThreshold < 1)) {
                problems.add("repartition_threshold must be in [0, 1), got " + repartitionThreshold);
            }
            if (virtualStages < 1) {
                problems.add("virtual_stages must be >= 1, got " + virtualStages);
            } else if (virtualStages > 1 && partitions >= 1 && microbatches % partitions != 0) {
                problems.add("virtual_stages " + virtualStages + " needs microbatches to be a multiple of partitions ("
                        + partitions + "), got microbatches " + microbatches);
            }
            if (!(bucketCapMb > 0 && bucketCapMb <= 4096)) {
                problems.add("bucket_cap_mb must be in (0, 4096], got " + bucketCapMb);
            }
            String trace = lower(traceDevice);
            if (!Set.of("gpu", "cpu").contains(trace)) {
                problems.add("trace_device must be one of gpu, cpu; got \"" + traceDevice + "\"");
            }
            if (!(memoryBudgetMb >= 0)) {
                problems.add("memory_budget_mb must be >= 0 (0: no budget beyond the GPU's free memory), got "
                        + memoryBudgetMb);
            }
            if (fp16 && bf16) {
                problems.add("fp16 and bf16 are both true; choose one half precision");
            } else if (bf16 && !DjlInternals.engineHas(DataType.BFLOAT16)) {
                problems.add("bf16 is not available: DJL 0.35.1's PyTorch engine has no bfloat16 type (its native "
                        + "library maps float32, float64, float16 and integer types; a bfloat16 tensor aborts the "
                        + "process); use fp16 (half precision with loss scaling)");
            }
            String schedule = scheduleFile == null ? "" : scheduleFile.trim();
            if (!schedule.isEmpty() && problems.isEmpty()) {
                try {
                    schedule(schedule, partitions, microbatches, virtualStages);
                } catch (IllegalArgumentException e) {
                    problems.add(e.getMessage());
                }
            }
            if (!problems.isEmpty()) {
                throw new IllegalArgumentException(String.join("; ", problems));
            }
            return new SmpConfig(partitions, microbatches, pipe, opt, mw, autoPartition, defaultPartition, ddp,
                    placementStrategy, active, processesPerHost, customMpiOptions == null ? "" : customMpiOptions,
                    processesPerGpu, activationCheckpointing, repartitionSteps, repartitionThreshold,
                    virtualStages, overlapAllReduce, bucketCapMb, trace, memoryBudgetMb, fp16, bf16, flatParameters,
                    cudnnBenchmark, schedule);
        }

        private static String lower(String s) {
            return s == null ? "" : s.trim().toLowerCase(Locale.ROOT);
        }
    }
}
