package io.smp4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.engine.Engine;
import io.smp4j.comm.TestSupport;
import io.smp4j.comm.launch.LocalLauncher;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * The bad-input catalogue on 2 real processes: every case fails before any training work, on both ranks, with the
 * same message, and that message is exactly the expected one.
 */
class BadInputCatalogTest {
    @Test
    void everyCaseFailsAlikeOnEveryRankWithItsMessage(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        Engine.getInstance();
        TestSupport.Result run = TestSupport.run(new LocalLauncher.Builder(2, BadInputMain.class.getName())
                .args(List.of(dir.toString()))
                .jvmArgs(List.of("-Xmx256m", "-Dai.djl.pytorch.num_threads=1", "-Dsmp.comm.timeout.s=60")));
        int code = run.code();
        String output = run.output();
        assertEquals(0, code, output);
        Map<String, Map<Integer, String>> got = new TreeMap<>();
        for (String line : output.lines().toList()) {
            int at = line.indexOf("BAD ");
            if (at < 0) {
                continue;
            }
            String[] parts = line.substring(at + 4).split(" ", 3);
            got.computeIfAbsent(parts[0], k -> new TreeMap<>()).put(Integer.parseInt(parts[1].substring(5)),
                    parts.length > 2 ? parts[2] : "");
        }
        got.forEach((k, v) -> System.out.println("CATALOG " + k + " :: " + v.get(0)));
        Map<String, String> want = expected(dir.toString());
        assertEquals(new java.util.TreeSet<>(want.keySet()), got.keySet(), output);
        for (Map.Entry<String, String> e : want.entrySet()) {
            Map<Integer, String> perRank = got.get(e.getKey());
            assertEquals(2, perRank == null ? 0 : perRank.size(), e.getKey() + ": " + output);
            assertEquals(perRank.get(0), perRank.get(1), e.getKey() + ": the ranks disagree");
            assertEquals(e.getValue(), perRank.get(0), e.getKey());
        }
        assertEquals(want.size(), got.size(), "cases: " + got.keySet());
    }

    static Map<String, String> expected(String dir) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("batch-not-divisible", "batch size 5 is not divisible by microbatches 2: every microbatch must have the same "
                + "size; use a batch size that is a multiple of 2 (e.g. drop the last incomplete batch)");
        m.put("checkpoint-incomplete", "checkpoint " + dir + " is incomplete: no manifest.properties");
        m.put("checkpoint-none", "no checkpoint in " + dir + " (no 'latest' file)");
        m.put("device-value", "smp.device is 'tpu'; allowed: auto, cpu");
        m.put("gpus-per-host", "this host runs 4 smp processes but has 2 GPU(s); each process needs a GPU of its own: "
                + "start at most 2 per host (mpirun -npernode 2, mpi.processes_per_host), let processes share a GPU "
                + "(processes_per_gpu), or set smp.device=cpu");
        m.put("json-malformed", "the smp config is not valid JSON: End of input at line 1 column 18 path $.partitions");
        m.put("json-not-object", "the smp config must be a JSON object such as {\"partitions\": 2}, got [2]");
        m.put("key-typo", "unknown smp config key 'microbatch': did you mean 'microbatches'? known keys: partitions, "
                + "pipeline_parallel_degree, microbatches, pipeline, optimize, memory_weight, "
                + "auto_partition, default_partition, ddp, placement_strategy, active_microbatches, "
                + "processes_per_gpu, activation_checkpointing, repartition_steps, repartition_threshold, "
                + "virtual_stages, overlap_allreduce, bucket_cap_mb, trace_device, memory_budget_mb, fp16, bf16, flat_parameters, cudnn_benchmark, schedule_file, mpi");
        m.put("key-unsupported", "'tensor_parallel_degree' is a SageMaker smp key that smp4j does not support yet; "
                + "supported keys: partitions, pipeline_parallel_degree, microbatches, pipeline, optimize, "
                + "memory_weight, auto_partition, default_partition, ddp, placement_strategy, "
                + "active_microbatches, processes_per_gpu, activation_checkpointing, repartition_steps, "
                + "repartition_threshold, virtual_stages, overlap_allreduce, bucket_cap_mb, trace_device, memory_budget_mb, fp16, bf16, flat_parameters, cudnn_benchmark, schedule_file, mpi");
        m.put("layout-needs-ddp", "world size 2 with partitions 1 makes 2 model replicas, which needs ddp: true (data "
                + "parallelism); set ddp true, or partitions 2, or start 1 processes");
        m.put("layout-not-multiple", "world size 2 is not a multiple of partitions 3: every model replica needs exactly 3 "
                + "ranks; start a multiple of 3 processes or change partitions");
        m.put("layout-processes-per-host", "mpi.processes_per_host is 4 but 2 processes were started on this host; launch with "
                + "-npernode 4 (mpirun) or change processes_per_host");
        m.put("partition-order", "unit 1 (02Linear) is on stage 0 after unit 0 on stage 1: stages must follow the model's "
                + "order");
        m.put("partition-out-of-range", "unit 1 (02Linear) is assigned to stage 5, out of range: allowed 0..1");
        m.put("partition-shared-microbatches", "unit 1 is lent, which needs microbatches >= 3 (its owner runs it "
                + "for at least the last two), got 2");
        m.put("partition-shared-statistics", "unit 1 (02BatchNorm) cannot be lent: it has parameters that do not "
                + "train (running statistics), which a replica would change apart from its owner");
        m.put("partition-too-few-units", "the model has 1 unit but partitions is 2: every stage needs at least one unit; use at "
                + "most 1 partitions or a model with more top-level blocks");
        m.put("range-active-microbatches", "active_microbatches must be >= 1, got 0");
        m.put("range-memory-weight", "memory_weight must be in [0, 1], got 1.5");
        m.put("range-microbatches", "microbatches must be >= 1, got -1");
        m.put("range-partitions", "partitions must be >= 1, got 0");
        m.put("step-argument-count", "step good takes 2 arguments, 3 given");
        m.put("step-argument-type", "step good: argument 1 is a String but the parameter is NDList");
        m.put("step-no-model", "step noModel must take exactly one DistributedModel parameter, found 0");
        m.put("step-not-annotated", "method Steps.notAnnotated is not annotated @Step");
        m.put("step-return-type", "step badReturn returns String; a step returns void, an NDArray, a number, or several "
                + "values as an NDList or NDArray[]");
        m.put("step-unknown-method", "no public method 'trian' in io.smp4j.core.BadInputMain$Steps: did you mean 'train'? "
                + "a step must be a public method annotated @Step; its steps: badReturn, good, noModel, train");
        m.put("type-ddp", "ddp must be true or false, got \"yes\"");
        m.put("type-mpi", "mpi.processes_per_host must be an integer, got \"four\"");
        m.put("type-partitions", "partitions must be an integer, got \"two\"");
        m.put("value-optimize", "optimize must be one of speed, memory; got \"fast\"");
        m.put("value-pipeline", "pipeline must be one of interleaved, simple; got \"gpipe\"");
        m.put("value-placement", "placement_strategy 'XYZ' is not valid; allowed: cluster, spread, or a permutation of the "
                + "letters D and P (optionally T), e.g. DP, PD, DPT");
        return m;
    }
}
