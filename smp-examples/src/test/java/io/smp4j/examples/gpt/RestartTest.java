package io.smp4j.examples.gpt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonParser;
import io.smp4j.comm.TestSupport;
import io.smp4j.comm.launch.LaunchPolicy;
import io.smp4j.comm.launch.LocalLauncher;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Automatic restart ({@code ./smp run --max-restarts}): a rank SIGKILLed mid-training; every rank is started again,
 * the gpt example resumes from its newest checkpoint by itself (no --resume), and the job exits 0 with the losses of
 * the steps after the checkpoint and the final parameters and Adam state bitwise those of an uninterrupted run (one
 * thread per rank). ({@code FaultToleranceTest} has a job that fails the same way twice and is not restarted again.)
 */
class RestartTest {
    @TempDir
    Path dir;

    private LocalLauncher.Builder gpt(String name, int maxRestarts, String... extra) {
        List<String> args = new ArrayList<>(GptTrainingTest.SMALL);
        args.addAll(List.of("--partitions", "2", "--microbatches", "2", "--steps", "40",
                "--checkpoint-dir", dir.resolve(name).toString(), "--checkpoint-every", "3", "--metrics-json",
                dir.resolve(name + ".json").toString()));
        args.addAll(List.of(extra));
        return LaunchPolicy.launcher(2, 1, GptTraining.class.getName()).args(args).maxRestarts(maxRestarts);
    }

    private float[] losses(String name) throws Exception {
        JsonArray a = JsonParser.parseString(Files.readString(dir.resolve(name + ".json"))).getAsJsonObject()
                .getAsJsonArray("losses");
        float[] l = new float[a.size()];
        for (int i = 0; i < l.length; i++) {
            l[i] = a.get(i).getAsFloat();
        }
        return l;
    }

    @Test
    void aKilledRankIsRestartedAndTheRunEqualsAnUninterruptedOne() throws Exception {
        TestSupport.Result whole = TestSupport.run(gpt("whole", 0));
        assertEquals(0, whole.code(), whole.output());

        TestSupport.Background run = TestSupport.start(gpt("restarted", 1));
        run.awaitLine("restarted" + java.io.File.separator + "step-6", 120);
        long killed = System.nanoTime();
        run.launcher().processes().get(1).destroyForcibly(); // SIGKILL
        run.awaitLine("resumed from", 120);
        double restartSeconds = (System.nanoTime() - killed) / 1e9;
        int code = run.exit().get(180, TimeUnit.SECONDS);
        run.pool().shutdown();
        String out = run.output();
        Files.writeString(Path.of("target", "restart.log"), out);
        assertEquals(0, code, out);
        assertEquals(1, run.launcher().restarts(), out);
        Matcher m = Pattern.compile("resumed from \\S+ at step (\\d+)").matcher(out);
        assertTrue(m.find(), out);
        int from = Integer.parseInt(m.group(1));
        assertTrue(from >= 6 && from % 3 == 0, "resumed at step " + from);
        float[] all = losses("whole");
        float[] after = losses("restarted");
        assertEquals(40 - from, after.length);
        for (int i = 0; i < after.length; i++) {
            assertEquals(all[from + i], after[i], 0f, "step " + (from + i + 1));
        }
        for (String file : List.of("stage-0.params", "stage-0.optimizer", "stage-1.params", "stage-1.optimizer")) {
            assertArrayEquals(Files.readAllBytes(dir.resolve("whole/step-40/" + file)),
                    Files.readAllBytes(dir.resolve("restarted/step-40/" + file)), file);
        }
        System.out.printf("SIGKILL of rank 1 after step 6 -> training again (resumed at step %d) after %.1f s%n", from,
                restartSeconds);
    }

    /**
     * Under mpirun, a wrapper loop restarts the job and passes the attempt ({@code mpirun -x SMP_RESTART_ATTEMPT=1});
     * the example then resumes from its checkpoint by itself, as under the local launcher.
     */
    @Test
    void theAttemptVariableAloneMakesTheExampleResume() throws Exception {
        List<String> args = new ArrayList<>(GptTrainingTest.SMALL);
        args.addAll(List.of("--partitions", "2", "--microbatches", "2", "--checkpoint-dir", dir.resolve("w").toString()));
        List<String> first = new ArrayList<>(args);
        first.addAll(List.of("--steps", "4"));
        assertEquals(0, TestSupport.run(LaunchPolicy.launcher(2, 1, GptTraining.class.getName()).args(first)).code());
        List<String> again = new ArrayList<>(args);
        again.addAll(List.of("--steps", "6"));
        TestSupport.Result r = TestSupport.run(LaunchPolicy.launcher(2, 1, GptTraining.class.getName()).args(again)
                .env(LocalLauncher.RESTART_ENV, "1"));
        assertEquals(0, r.code(), r.output());
        assertTrue(r.output().contains("resumed from " + dir.resolve("w") + " at step 4"), r.output());
    }
}
