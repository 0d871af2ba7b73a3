package io.smp4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import io.smp4j.comm.TestSupport;
import io.smp4j.comm.launch.LocalLauncher;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Hybrid pipeline + data parallelism through the user API equals one process running the same global batch as the
 * same microbatches, summed in the distributed run's order (each replica's microbatches, then the replicas'
 * average): every parameter and every microbatch loss bitwise, on real processes. Exact, because the same sums are
 * made in the same order; the all-reduce of two replicas adds two numbers (commutative) and halves (exact).
 */
class HybridParallelTest {
    @ParameterizedTest(name = "{0}: {1} ranks, {2} partitions, {3} microbatches, {4}, {5}, activation checkpointing "
            + "{6}, virtual stages {7}")
    @CsvSource({"resnet18, 4, 2, 2, interleaved, spread, false, 1", "mlp, 2, 1, 4, simple, cluster, false, 1",
        "mlp, 4, 2, 2, simple, cluster, false, 1", "resnet18, 2, 2, 4, simple, cluster, true, 1",
        "resnet18, 4, 2, 2, interleaved, spread, true, 1", "mlp, 4, 2, 4, interleaved, cluster, true, 1",
        "resnet18, 2, 2, 4, interleaved, cluster, false, 2", "resnet18, 4, 2, 2, interleaved, spread, true, 2",
        "mlp, 2, 2, 2, interleaved, cluster, true, 2", "mlp, 2, 2, 4, simple, cluster, false, 2"})
    void hybridTrainingEqualsOneProcess(String model, int np, int partitions, int microbatches, String pipeline,
                                        String placement, boolean checkpointing, int virtual) throws Exception {
        run(model, np, partitions, microbatches, pipeline, placement, checkpointing, virtual, List.of(), "");
    }

    /**
     * A schedule written by hand ({@code schedule_file}): stage 0 runs all forwards first, stage 1 alternates; the run
     * equals one process bitwise, as the built-in schedules do (backwards in microbatch order on every stage).
     */
    @Test
    void aHandWrittenScheduleEqualsOneProcess(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("schedule.txt");
        Files.writeString(file, """
                # 2 stages x 2 microbatches, hand-written
                stage 0: F0 SA0 F1 SA1 RG0 B0 RG1 B1
                stage 1: RA0 F0 B0 SG0 RA1 F1 B1 SG1
                """);
        String out = run("mlp", 2, 2, 2, "interleaved", "cluster", false, 1,
                List.of("-Dsmp.test.scheduleFile=" + file), "-schedule-file");
        assertTrue(out.contains("file " + file), "the file's schedule ran: " + out);
    }

    /**
     * The data-parallel average overlapped with backward (buckets on a communication thread while the earlier units'
     * backward runs): the same bits as one process. Small buckets cut the backward into many segments; the last
     * case has 4 replicas through shared memory (each element summed in rank order whatever the bucket) and one
     * case turns the overlap off (one all-reduce after backward).
     */
    @ParameterizedTest(name = "{0}: {1} ranks, {2} partitions, {3} microbatches, {4}, checkpointing {5}, virtual {6}, "
            + "buckets of {7} MB, overlap {8}, all-reduce {9}")
    @CsvSource({"resnet18, 2, 1, 2, interleaved, false, 1, 0.25, true, auto",
        "resnet18, 4, 2, 2, interleaved, true, 2, 0.25, true, auto",
        "mlp, 4, 1, 2, simple, false, 1, 0.0001, true, shm",
        "mlp, 2, 1, 4, simple, false, 1, 4, false, auto"})
    void overlappedAllReduceEqualsOneProcess(String model, int np, int partitions, int microbatches, String pipeline,
                                             boolean checkpointing, int virtual, double bucketMb, boolean overlap,
                                             String allReduce) throws Exception {
        String output = run(model, np, partitions, microbatches, pipeline, "spread", checkpointing, virtual,
                List.of("-Dsmp.test.bucketMb=" + bucketMb, "-Dsmp.test.overlap=" + overlap,
                        "-Dsmp.comm.allreduce=" + allReduce), "-overlap-" + overlap + "-" + bucketMb);
        Matcher m = Pattern.compile("OVERLAP rank=(\\d) buckets=(\\d+)").matcher(output);
        int ranks = 0;
        while (m.find()) {
            ranks++;
            int buckets = Integer.parseInt(m.group(2));
            // Overlapped: the backward was cut into several buckets (every rank has several units); else none.
            assertTrue(overlap ? buckets >= 2 : buckets == 0, m.group());
        }
        assertEquals(np, ranks, output);
    }

    /**
     * A stage boundary inside a unit (re-partitioning's balance finer than a unit): stage 1 runs stage 0's last unit
     * for the first k microbatches of each step, from a replica of its parameters; the unit's gradient sum over those
     * microbatches goes on on its owner. The same bits as one process, with data parallelism, activation
     * checkpointing and the overlapped all-reduce too.
     */
    @ParameterizedTest(name = "{0}: {1} ranks, {2} microbatches, {3}, activation checkpointing {4}, lent for {5}")
    @CsvSource({"resnet18, 2, 4, interleaved, false, 1", "resnet18, 4, 4, simple, true, 2",
        "mlp, 2, 4, interleaved, false, 2"})
    void lentBoundaryUnitEqualsOneProcess(String model, int np, int microbatches, String pipeline,
                                            boolean checkpointing, int shared) throws Exception {
        String output = run(model, np, 2, microbatches, pipeline, "cluster", checkpointing, 1,
                List.of("-Dsmp.test.shared=" + shared), "-shared-" + shared);
        Matcher m = Pattern.compile("SHARED rank=\\d unit=\\d+ of \\d+ \\(.*\\) microbatches=" + shared)
                .matcher(output);
        int ranks = 0;
        while (m.find()) {
            ranks++;
        }
        assertEquals(np, ranks, output);
    }

    private static String run(String model, int np, int partitions, int microbatches, String pipeline,
                              String placement, boolean checkpointing, int virtual, List<String> extraJvmArgs,
                              String logSuffix) throws Exception {
        Engine.getInstance();
        List<String> jvm = new ArrayList<>(List.of("-Xmx1g", "-Dai.djl.pytorch.num_threads=1",
                "-Dai.djl.pytorch.num_interop_threads=1", "-Dsmp.comm.timeout.s=120",
                "-Dsmp.test.checkpointing=" + checkpointing, "-Dsmp.test.virtual=" + virtual));
        jvm.addAll(extraJvmArgs);
        TestSupport.Result run = TestSupport.run(new LocalLauncher.Builder(np, HybridMain.class.getName())
                .args(List.of(model, "" + partitions, "" + microbatches, pipeline, placement))
                .jvmArgs(jvm));
        int code = run.code();
        String output = run.output();
        Files.writeString(Path.of("target", "hybrid-" + model + "-w" + np + "-p" + partitions
                + (checkpointing ? "-ckpt" : "") + (virtual > 1 ? "-v" + virtual : "") + logSuffix + ".log"), output);
        Matcher m = Pattern.compile("HYBRID .* rank=(\\d) stage=(\\d) replica=(\\d) tensors=(\\d+) "
                + "maxRelParamDiff=(\\S+) maxRelLossDiff=(\\S+) evalLossDiff=(\\S+) updateRelDiff=\\S+ "
                + "controlUpdateRelDiff=\\S+ (OK|FAIL)").matcher(output);
        int ranks = 0;
        while (m.find()) {
            ranks++;
            assertTrue(Integer.parseInt(m.group(4)) > 0, m.group());
            assertEquals(0.0, Double.parseDouble(m.group(5)), m.group());
            assertEquals(0.0, Double.parseDouble(m.group(6)), m.group());
            assertEquals(0.0, Double.parseDouble(m.group(7)), m.group());
            assertEquals("OK", m.group(8), m.group());
        }
        assertEquals(np, ranks, output);
        assertEquals(0, code, output);
        return output;
    }
}
