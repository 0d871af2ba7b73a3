package io.smp4j.examples.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonParser;
import io.smp4j.comm.TestSupport;
import io.smp4j.comm.launch.LaunchPolicy;
import io.smp4j.core.device.DeviceSelector;
import io.smp4j.core.device.JCudaProbe;
import io.smp4j.examples.resnet.ResNet18Training;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ResNet18 example on a GPU (skipped where none is usable, as in CI): a checkpoint saved on the GPU resumes on
 * the CPU and back, continuing the GPU's own trajectory; and {@code smp.device=cpu} keeps a GPU host's ranks off the
 * GPU.
 */
@Tag("gpu")
class GpuExampleTest {
    static final List<String> COMMON = List.of("--image-size", "32", "--generated-images", "64", "--seed", "7",
            "--lr", "0.002", "--log-every", "1", "--no-eval", "--batch-size", "8", "--microbatches", "2");

    @BeforeAll
    static void needsAGpu() {
        Assumptions.assumeTrue(DeviceSelector.gpuUsable(), "no GPU usable by DJL here");
    }

    static TestSupport.Result example(Path json, String device, List<String> extra) throws Exception {
        List<String> args = new ArrayList<>(COMMON);
        args.addAll(extra);
        args.addAll(List.of("--metrics-json", json.toString()));
        return TestSupport.run(LaunchPolicy.launcher(1, 0, ResNet18Training.class.getName()).args(args)
                .env("SMP_DEVICE", device));
    }

    static float[] losses(Path json) throws IOException {
        JsonArray a = JsonParser.parseString(Files.readString(json)).getAsJsonObject().getAsJsonArray("loss");
        float[] l = new float[a.size()];
        for (int i = 0; i < l.length; i++) {
            l[i] = a.get(i).getAsFloat();
        }
        return l;
    }

    static double rel(float a, float b) {
        return Math.abs(a - b) / Math.abs(b);
    }

    /**
     * G: 7 steps on the GPU. A: 4 steps on the GPU, checkpoint; B: the CPU resumes it, steps 5-6, checkpoint; C: the
     * GPU resumes B's checkpoint, step 7. Where the device changes, the parameters are the same and only the kernels
     * (cuDNN vs oneDNN, float32 both) sum differently: about 1e-6 relative per operation; the test allows 1e-3 over
     * the two steps that follow a move and prints what it measured.
     */
    @Test
    void checkpointMovesBetweenGpuAndCpu(@TempDir Path dir) throws Exception {
        Path ckpt = dir.resolve("ckpt");
        TestSupport.Result g = example(dir.resolve("g.json"), "auto", List.of("--steps", "7"));
        assertEquals(0, g.code(), g.output());
        assertTrue(g.output().contains("-> GPU 0"), "trained on the GPU:\n" + g.output());
        TestSupport.Result a = example(dir.resolve("a.json"), "auto", List.of("--steps", "4", "--checkpoint-dir",
                ckpt.toString()));
        assertEquals(0, a.code(), a.output());
        TestSupport.Result b = example(dir.resolve("b.json"), "cpu", List.of("--steps", "6", "--checkpoint-dir",
                ckpt.toString(), "--resume"));
        assertEquals(0, b.code(), b.output());
        assertTrue(b.output().contains("resumed from " + ckpt + " at step 4"), b.output());
        TestSupport.Result c = example(dir.resolve("c.json"), "auto", List.of("--steps", "7", "--checkpoint-dir",
                ckpt.toString(), "--resume"));
        assertEquals(0, c.code(), c.output());
        assertTrue(c.output().contains("resumed from " + ckpt + " at step 6"), c.output());
        float[] gpu = losses(dir.resolve("g.json"));
        float[] again = losses(dir.resolve("a.json"));
        float[] cpu = losses(dir.resolve("b.json"));
        float[] back = losses(dir.resolve("c.json"));
        double gpuRerun = 0;
        for (int i = 0; i < 4; i++) {
            gpuRerun = Math.max(gpuRerun, rel(again[i], gpu[i]));
        }
        double toCpu = Math.max(rel(cpu[0], gpu[4]), rel(cpu[1], gpu[5]));
        double toGpu = rel(back[0], gpu[6]);
        System.out.printf(Locale.ROOT, "checkpoint GPU -> CPU -> GPU: steps 5-6 on the CPU vs the GPU %.3g, step 7 "
                + "back on the GPU %.3g; the GPU run twice, steps 1-4: %.3g%n", toCpu, toGpu, gpuRerun);
        assertTrue(toCpu <= 1e-3, "CPU after a GPU checkpoint: " + toCpu);
        assertTrue(toGpu <= 1e-3, "GPU after a CPU checkpoint: " + toGpu);
    }

    /** Ranks told smp.device=cpu create no CUDA context: the GPU's free memory and process list stay as they were. */
    @Test
    void cpuDeviceLeavesTheGpuAlone(@TempDir Path dir) throws Exception {
        JCudaProbe probe = new JCudaProbe();
        long before = probe.use(0).freeBytes();
        TestSupport.Background run = TestSupport.start(LaunchPolicy.launcher(2, 0, ResNet18Training.class.getName())
                .args(List.of("--partitions", "2", "--steps", "6", "--image-size", "32", "--generated-images", "32",
                        "--log-every", "1", "--no-eval"))
                .env("SMP_DEVICE", "cpu"));
        run.awaitLine("[rank 0] step 3/", 180);
        long during = probe.use(0).freeBytes();
        String apps = nvidiaSmiApps();
        List<String> pids = new ArrayList<>();
        for (Process p : run.launcher().processes()) {
            pids.add(Long.toString(p.pid()));
        }
        int code = run.exit().get(180, TimeUnit.SECONDS);
        run.pool().shutdown();
        assertEquals(0, code, run.output());
        assertTrue(run.output().contains("device: the CPU was asked for (smp.device=cpu)"), run.output());
        System.out.printf(Locale.ROOT, "smp.device=cpu: GPU free memory %d MB before, %d MB while training; GPU "
                + "processes: %s; ranks %s%n", before >> 20, during >> 20, apps.isBlank() ? "none" : apps, pids);
        assertTrue(Math.abs(before - during) < 64L << 20, "GPU memory moved by " + ((before - during) >> 20) + " MB");
        for (String pid : pids) {
            assertTrue(!apps.contains(pid), "rank process " + pid + " is on the GPU: " + apps);
        }
    }

    /** The GPU's compute processes as nvidia-smi lists them (pid, memory), or "" where nvidia-smi is missing. */
    static String nvidiaSmiApps() throws Exception {
        try {
            Process p = new ProcessBuilder("nvidia-smi", "--query-compute-apps=pid,used_memory",
                    "--format=csv,noheader").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            p.waitFor(30, TimeUnit.SECONDS);
            return out;
        } catch (IOException e) {
            return "";
        }
    }
}
