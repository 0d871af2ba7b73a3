package io.smp4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

class SmpConfigTest {
    private static String error(String json) {
        return assertThrows(IllegalArgumentException.class, () -> SmpConfig.fromJson(json)).getMessage();
    }

    @Test
    void sageMakerDefaults() {
        SmpConfig c = SmpConfig.fromJson("{\"partitions\": 2}");
        assertEquals(2, c.partitions());
        assertEquals(1, c.microbatches());
        assertEquals("interleaved", c.pipeline());
        assertEquals(true, c.flatParameters());
        assertEquals(false, c.cudnnBenchmark());
        assertEquals("", c.scheduleFile());
        assertEquals("memory", c.optimize());
        assertEquals(0.8, c.memoryWeight());
        assertEquals(true, c.autoPartition());
        assertEquals(0, c.defaultPartition());
        assertEquals(false, c.ddp());
        assertEquals("cluster", c.placementStrategy());
        assertEquals(4, c.activeMicrobatches());
        assertEquals(0.2, SmpConfig.fromJson("{\"optimize\": \"speed\"}").memoryWeight());
        assertEquals(0.5, SmpConfig.fromJson("{\"optimize\": \"speed\", \"memory_weight\": 0.5}").memoryWeight());
    }

    @Test
    void jsonMapAndBuilderAgree() {
        SmpConfig json = SmpConfig.fromJson("{\"pipeline_parallel_degree\": 2, \"microbatches\": 8, \"pipeline\": "
                + "\"simple\", \"ddp\": true, \"placement_strategy\": \"spread\", \"active_microbatches\": 3, "
                + "\"mpi\": {\"processes_per_host\": 4, \"custom_mpi_options\": \"-x NCCL_DEBUG=WARN\"}}");
        SmpConfig map = SmpConfig.fromMap(Map.of("partitions", 2, "microbatches", 8, "pipeline", "simple", "ddp",
                true, "placement_strategy", "spread", "active_microbatches", 3, "mpi",
                Map.of("processes_per_host", 4, "custom_mpi_options", "-x NCCL_DEBUG=WARN")));
        SmpConfig built = SmpConfig.builder().partitions(2).microbatches(8).pipeline("simple").ddp(true)
                .placementStrategy("spread").activeMicrobatches(3).processesPerHost(4)
                .customMpiOptions("-x NCCL_DEBUG=WARN").build();
        assertEquals(built, json);
        assertEquals(built, map);
    }

    @Test
    void everyBadInputSaysWhatIsWrongAndWhatIsAllowed() {
        assertEquals("unknown smp config key 'microbatch': did you mean 'microbatches'? known keys: partitions, "
                + "pipeline_parallel_degree, microbatches, pipeline, optimize, memory_weight, auto_partition, "
                + "default_partition, ddp, placement_strategy, active_microbatches, processes_per_gpu, "
                + "activation_checkpointing, repartition_steps, repartition_threshold, virtual_stages, overlap_allreduce, "
                + "bucket_cap_mb, trace_device, memory_budget_mb, fp16, bf16, flat_parameters, cudnn_benchmark, schedule_file, mpi",
                error("{\"microbatch\": 4}"));
        assertEquals("unknown smp config key 'mpi.process_per_host': did you mean 'mpi.processes_per_host'? known "
                        + "keys: mpi.enabled, mpi.processes_per_host, mpi.custom_mpi_options",
                error("{\"mpi\": {\"process_per_host\": 4}}"));
        assertEquals("'tensor_parallel_degree' is a SageMaker smp key that smp4j does not support yet; supported "
                + "keys: partitions, pipeline_parallel_degree, microbatches, pipeline, optimize, memory_weight, "
                + "auto_partition, default_partition, ddp, placement_strategy, active_microbatches, processes_per_gpu, "
                + "activation_checkpointing, repartition_steps, repartition_threshold, virtual_stages, overlap_allreduce, "
                + "bucket_cap_mb, trace_device, memory_budget_mb, fp16, bf16, flat_parameters, cudnn_benchmark, schedule_file, mpi",
                error("{\"tensor_parallel_degree\": 2}"));
        assertEquals("unknown smp config key 'colour': known keys: partitions, pipeline_parallel_degree, "
                + "microbatches, pipeline, optimize, memory_weight, auto_partition, default_partition, ddp, "
                + "placement_strategy, active_microbatches, processes_per_gpu, activation_checkpointing, "
                + "repartition_steps, repartition_threshold, virtual_stages, overlap_allreduce, bucket_cap_mb, "
                + "trace_device, memory_budget_mb, fp16, bf16, flat_parameters, cudnn_benchmark, schedule_file, mpi",
                error("{\"colour\": 2}"));
        assertEquals("partitions must be an integer, got \"two\"", error("{\"partitions\": \"two\"}"));
        assertEquals("partitions must be an integer, got 2.5", error("{\"partitions\": 2.5}"));
        assertEquals("partitions must be >= 1, got 0", error("{\"partitions\": 0}"));
        assertEquals("microbatches must be >= 1, got -4", error("{\"microbatches\": -4}"));
        assertEquals("pipeline must be one of interleaved, simple; got \"gpipe\"", error("{\"pipeline\": \"gpipe\"}"));
        assertEquals("bucket_cap_mb must be in (0, 4096], got 0.0", error("{\"bucket_cap_mb\": 0}"));
        assertEquals("optimize must be one of speed, memory; got \"fast\"", error("{\"optimize\": \"fast\"}"));
        assertEquals("memory_weight must be in [0, 1], got 1.5", error("{\"memory_weight\": 1.5}"));
        assertEquals("memory_weight must be a number, got \"high\"", error("{\"memory_weight\": \"high\"}"));
        assertEquals("ddp must be true or false, got \"yes\"", error("{\"ddp\": \"yes\"}"));
        assertEquals("auto_partition must be true or false, got 1", error("{\"auto_partition\": 1}"));
        assertEquals("default_partition must be in 0..1 for 2 partitions, got 2",
                error("{\"partitions\": 2, \"default_partition\": 2}"));
        assertEquals("placement_strategy 'diagonal' is not valid; allowed: cluster, spread, or a permutation of the "
                + "letters D and P (optionally T), e.g. DP, PD, DPT", error("{\"placement_strategy\": \"diagonal\"}"));
        assertEquals("active_microbatches must be >= 1, got 0", error("{\"active_microbatches\": 0}"));
        assertEquals("mpi must be an object such as {\"processes_per_host\": 4}, got 4", error("{\"mpi\": 4}"));
        assertEquals("mpi.processes_per_host must be an integer, got \"all\"",
                error("{\"mpi\": {\"processes_per_host\": \"all\"}}"));
        assertEquals("the smp config must be a JSON object such as {\"partitions\": 2}, got [2]", error("[2]"));
        assertEquals(true, error("{\"partitions\": 2,,}").startsWith("the smp config is not valid JSON: "));
        // Several problems are reported together.
        assertEquals("partitions must be >= 1, got 0; microbatches must be >= 1, got 0",
                error("{\"partitions\": 0, \"microbatches\": 0}"));
    }

    @Test
    void impossibleLayoutsFailBeforeAnyWork() {
        assertEquals("world size 6 is not a multiple of partitions 4: every model replica needs exactly 4 ranks; "
                        + "start a multiple of 4 processes or change partitions",
                assertThrows(IllegalArgumentException.class, () -> Smp.validate(
                        SmpConfig.builder().partitions(4).build(), 6, 6)).getMessage());
        assertEquals("world size 4 with partitions 2 makes 2 model replicas, which needs ddp: true (data "
                        + "parallelism); set ddp true, or partitions 4, or start 2 processes",
                assertThrows(IllegalArgumentException.class, () -> Smp.validate(
                        SmpConfig.builder().partitions(2).build(), 4, 4)).getMessage());
        assertEquals("mpi.processes_per_host is 8 but 4 processes were started on this host; launch with -npernode 8 "
                        + "(mpirun) or change processes_per_host",
                assertThrows(IllegalArgumentException.class, () -> Smp.validate(
                        SmpConfig.builder().partitions(2).ddp(true).processesPerHost(8).build(), 8, 4)).getMessage());
        Smp.validate(SmpConfig.builder().partitions(2).ddp(true).build(), 4, 4);
        Smp.validate(SmpConfig.builder().partitions(2).build(), 2, 2);
    }

    /** A hand-written schedule is checked when the configuration is built: before any process does any work. */
    @Test
    void aScheduleFileIsCheckedBeforeAnyWork(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path good = dir.resolve("good.txt");
        java.nio.file.Files.writeString(good, "stage 0: F0 SA0 F1 SA1 RG0 B0 RG1 B1\nstage 1: RA0 F0 B0 SG0 RA1 F1 B1 SG1\n");
        SmpConfig c = SmpConfig.builder().partitions(2).microbatches(2).scheduleFile(good.toString()).build();
        assertEquals(good.toString(), c.scheduleFile());
        java.nio.file.Path deadlock = dir.resolve("deadlock.txt");
        // Stage 1 waits for microbatch 1's activation before stage 0 sends it: stage 0 waits for a gradient first.
        java.nio.file.Files.writeString(deadlock, "stage 0: F0 SA0 RG0 B0 F1 SA1 RG1 B1\n"
                + "stage 1: RA1 F1 RA0 F0 B0 SG0 B1 SG1\n");
        String e = assertThrows(IllegalArgumentException.class, () -> SmpConfig.builder().partitions(2)
                .microbatches(2).scheduleFile(deadlock.toString()).build()).getMessage();
        assertTrue(e.startsWith("schedule_file " + deadlock + " is not a schedule for 2 stages x 2 microbatches: "), e);
        assertTrue(e.contains("deadlock"), e);
        String stages = assertThrows(IllegalArgumentException.class, () -> SmpConfig.builder().partitions(3)
                .microbatches(2).scheduleFile(good.toString()).build()).getMessage();
        assertTrue(stages.endsWith("it has 2 stage line(s), the job 3 stage(s) (partitions)"), stages);
        String missing = assertThrows(IllegalArgumentException.class, () -> SmpConfig.builder().partitions(2)
                .scheduleFile(dir.resolve("none.txt").toString()).build()).getMessage();
        assertTrue(missing.startsWith("schedule_file " + dir.resolve("none.txt") + " cannot be read"), missing);
    }
}
