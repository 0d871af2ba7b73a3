package io.smp4j.examples.resnet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.smp4j.comm.TestSupport;
import io.smp4j.comm.launch.LocalLauncher;
import io.smp4j.pipeline.wire.TensorCodec;
import java.io.DataInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Crash-safe checkpoints: the whole job is SIGKILLed again and again while a checkpoint is being written (the moment
 * a new temporary checkpoint directory appears, plus a random 0-30 ms); each time the newest complete checkpoint
 * loads and training resumes from it; the last run finishes, and its losses and its final checkpoint (every parameter
 * and optimizer state array, bit for bit) equal those of an uninterrupted run.
 */
class CheckpointCrashTest {
    static final int STEPS = 8;
    static final int CRASHES = 5;

    static List<String> args(Path ckpt, Path metrics, boolean resume) {
        List<String> a = new ArrayList<>(List.of("--partitions", "2", "--microbatches", "2", "--batch-size", "8",
                "--image-size", "32", "--generated-images", "32", "--steps", Integer.toString(STEPS), "--no-eval",
                "--seed", "3", "--lr", "0.002", "--checkpoint-dir", ckpt.toString(), "--checkpoint-every", "1"));
        if (metrics != null) {
            a.addAll(List.of("--metrics-json", metrics.toString()));
        }
        if (resume) {
            a.add("--resume");
        }
        return a;
    }

    static LocalLauncher.Builder launch(List<String> args) {
        return new LocalLauncher.Builder(2, ResNet18Training.class.getName()).args(args)
                .jvmArgs(List.of("-Xmx512m", "-Dai.djl.pytorch.num_threads=1", "-Dsmp.comm.timeout.s=30",
                        "-Dorg.slf4j.simpleLogger.log.ai.djl=warn", "-DDJL_DISABLE_PROGRESS_BAR=true"));
    }

    static Set<String> temporaries(Path dir) throws Exception {
        Set<String> s = new HashSet<>();
        if (Files.isDirectory(dir)) {
            try (var l = Files.list(dir)) {
                l.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".tmp-step-")).forEach(s::add);
            }
        }
        return s;
    }

    static float[] losses(Path metrics) throws Exception {
        JsonArray a = JsonParser.parseString(Files.readString(metrics)).getAsJsonObject().getAsJsonArray("loss");
        float[] l = new float[a.size()];
        for (int i = 0; i < l.length; i++) {
            l[i] = a.get(i).getAsFloat();
        }
        return l;
    }

    /**
     * Every array of a checkpoint (both stages), keyed by parameter name (and optimizer field), as a digest of its
     * type, shape and bytes: the layout-independent content. Formats: Checkpoints.writeStage and OptimizerState.write,
     * each file followed by an 8-byte checksum trailer; arrays in TensorCodec's format.
     */
    static Map<String, String> contents(Path checkpoint) throws Exception {
        // Parameter names repeat across blocks ("weight"): key by position in the whole model (stage 0's
        // parameters, then stage 1's: model order, whatever the boundary).
        Map<String, String> out = new TreeMap<>();
        int base = 0;
        for (int stage = 0; stage < 2; stage++) {
            int count;
            try (DataInputStream in = content(checkpoint.resolve("stage-" + stage + ".params"))) {
                int n = in.readInt();
                count = n;
                for (int i = 0; i < n; i++) {
                    String name = String.format("%04d %s", base + i, in.readUTF());
                    out.put("param " + name, digest(TensorCodec.read(in)));
                }
            }
            try (DataInputStream in = content(checkpoint.resolve("stage-" + stage + ".optimizer"))) {
                in.readInt();
                out.put("optimizer class", in.readUTF());
                out.put("optimizer updates", Integer.toString(in.readInt()));
                int n = in.readInt();
                List<String> names = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    names.add(String.format("%04d %s", base + i, in.readUTF()));
                    out.put("count " + names.get(i), Integer.toString(in.readInt()));
                }
                int fields = in.readInt();
                for (int f = 0; f < fields; f++) {
                    String field = in.readUTF();
                    for (String name : names) {
                        if (in.readBoolean()) {
                            out.put("state " + field + " " + name, digest(TensorCodec.read(in)));
                        }
                    }
                }
            }
            base += count;
        }
        return out;
    }

    /** A checkpoint file's content, without its checksum trailer. */
    static DataInputStream content(Path file) throws Exception {
        byte[] all = Files.readAllBytes(file);
        return new DataInputStream(new java.io.ByteArrayInputStream(all, 0, all.length - 8));
    }

    static String digest(TensorCodec.Stored a) throws Exception {
        java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
        md.update((a.type() + " " + a.shape()).getBytes(java.nio.charset.StandardCharsets.UTF_8));
        md.update(a.data().duplicate());
        return java.util.HexFormat.of().formatHex(md.digest());
    }

    @Test
    void killedWhileSavingResumesTheExactTrajectory(@TempDir Path dir) throws Exception {
        Path refDir = dir.resolve("reference");
        TestSupport.Result ref = TestSupport.run(launch(args(refDir, dir.resolve("ref.json"), false)));
        assertEquals(0, ref.code(), ref.output());
        float[] reference = losses(dir.resolve("ref.json"));

        Path crashDir = dir.resolve("crashing");
        Random random = new Random(12345);
        List<String> kills = new ArrayList<>();
        for (int i = 0; i < CRASHES; i++) {
            Set<String> before = temporaries(crashDir);
            boolean resume = Files.exists(crashDir.resolve("latest"));
            TestSupport.Background run = TestSupport.start(launch(args(crashDir, null, resume)));
            try {
                // Let 0-2 saves of this run complete, then kill inside the next one.
                int target = 1 + random.nextInt(3);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                Set<String> seen = new HashSet<>();
                while (seen.size() < target) {
                    assertTrue(System.nanoTime() < deadline && !run.exit().isDone(),
                            "no checkpoint write to interrupt; output:\n" + run.output());
                    Thread.sleep(1);
                    for (String t : temporaries(crashDir)) {
                        if (!before.contains(t)) {
                            seen.add(t);
                        }
                    }
                }
                Thread.sleep(random.nextInt(31));
                for (Process p : run.launcher().processes()) {
                    p.destroyForcibly();
                }
                int code = run.exit().get(60, TimeUnit.SECONDS);
                String latest = Files.exists(crashDir.resolve("latest"))
                        ? Files.readString(crashDir.resolve("latest")).trim() : "none";
                kills.add("crash " + i + ": exit " + code + ", latest " + latest);
                assertTrue(code != 0, "the run was not killed: " + run.output());
                if (!latest.equals("none")) {
                    assertTrue(Files.exists(crashDir.resolve(latest).resolve("manifest.properties")),
                            "latest points at an incomplete checkpoint " + latest);
                }
            } finally {
                run.launcher().processes().forEach(Process::destroyForcibly); // on a failed assertion too
                run.pool().shutdownNow();
            }
        }
        Path metrics = dir.resolve("final.json");
        assertTrue(Files.exists(crashDir.resolve("latest")), "no save completed in " + kills);
        TestSupport.Result last = TestSupport.run(launch(args(crashDir, metrics, true)));
        assertEquals(0, last.code(), last.output());
        JsonObject m = JsonParser.parseString(Files.readString(metrics)).getAsJsonObject();
        int first = m.get("first_step").getAsInt();
        float[] resumed = losses(metrics);
        float[] want = new float[resumed.length];
        System.arraycopy(reference, first - 1, want, 0, want.length);
        assertArrayEquals(want, resumed, 0f, "losses of steps " + first + ".." + STEPS + " after " + kills);
        // Stage boundaries may differ between the two jobs (automatic plans are timed), so compare the whole
        // model: every parameter and optimizer state array, by its position in the model, bit for bit.
        Map<String, String> want2 = contents(refDir.resolve("step-" + STEPS));
        Map<String, String> got2 = contents(crashDir.resolve("step-" + STEPS));
        assertTrue(want2.size() > 100, "parsed " + want2.size() + " arrays");
        assertEquals(want2, got2, "the final checkpoint differs from the uninterrupted run's");
        System.out.println("checkpoint crashes: " + kills + "; final run resumed at step " + first);
    }
}
