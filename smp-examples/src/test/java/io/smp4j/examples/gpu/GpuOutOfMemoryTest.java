package io.smp4j.examples.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.smp4j.comm.TestSupport;
import io.smp4j.comm.launch.LaunchPolicy;
import io.smp4j.core.device.DeviceSelector;
import io.smp4j.examples.cli.ExampleMain;
import io.smp4j.examples.gpt.GptTraining;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A batch that does not fit the GPU (the gpt example, 2 stages sharing it, attention scores of hundreds of GB): the
 * ranks that run out say so, naming rank, stage, the bytes PyTorch asked for and the GPU's free memory; the job ends;
 * with --max-restarts 3 it is tried twice, not four times (the same failure twice in a row).
 */
@Tag("gpu")
class GpuOutOfMemoryTest {
    @BeforeAll
    static void needsAGpu() {
        Assumptions.assumeTrue(DeviceSelector.gpuUsable(), "no GPU usable by DJL here");
    }

    @Test
    void outOfMemoryIsNamedAndNotRetriedForever(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path cfg = dir.resolve("ppg.json");
        Files.writeString(cfg, "{\"processes_per_gpu\": 2}");
        TestSupport.Background run = TestSupport.start(LaunchPolicy.launcher(2, 0, GptTraining.class.getName())
                .args(List.of("--layers", "2", "--hidden", "2048", "--heads", "16", "--seq-len", "2048",
                        "--batch-size", "256", "--partitions", "2", "--microbatches", "1", "--steps", "2",
                        "--config", cfg.toString()))
                .maxRestarts(3));
        int code = run.exit().get(300, java.util.concurrent.TimeUnit.SECONDS);
        run.pool().shutdown();
        String out = run.output();
        Files.writeString(dir.resolve("gpu-oom.log"), out);
        assertEquals(ExampleMain.OUT_OF_MEMORY_EXIT, code, out);
        assertTrue(out.matches("(?s).*gpt: rank \\d \\(stage \\d of 2\\) ran out of GPU memory on gpu\\(0\\) \\(.*\\): "
                + "PyTorch asked for [0-9.]+ [KMGT]?i?B, the GPU has [0-9.]+ GiB free of [0-9.]+ GiB now; use more "
                + "partitions.*"), out);
        // Each of the two attempts: at least the rank that ran out says so (here both stages do).
        assertTrue(out.lines().filter(l -> l.contains("ran out of GPU memory")).count() >= 2, out);
        assertEquals(1, run.launcher().restarts(), out);
        assertTrue(run.launcher().failureMessage().startsWith("not restarted: the same failure twice in a row"),
                run.launcher().failureMessage());
        System.out.println("GPU OOM: " + run.launcher().failureMessage() + "; " + out.lines()
                .filter(l -> l.contains("ran out of GPU memory")).findFirst().orElse(""));
    }
}
