package io.smp4j.examples.resnet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.smp4j.comm.TestSupport;
import io.smp4j.comm.launch.LocalLauncher;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A dead or silent rank while the ResNet18 example trains (4 processes, 2 stages x 2 replicas): the others leave
 * within the communication timeout, naming the rank they lost, and the launcher exits non-zero. Nothing hangs.
 */
class TrainingFaultTest {
    static final double TIMEOUT_S = 4.0;

    private static TestSupport.Background start(boolean stopOthers) {
        return TestSupport.start(new LocalLauncher.Builder(4, ResNet18Training.class.getName())
                .args(List.of("--partitions", "2", "--ddp", "--microbatches", "2", "--batch-size", "8",
                        "--image-size", "32", "--generated-images", "32", "--epochs", "1000", "--no-eval",
                        "--log-every", "1"))
                .jvmArgs(List.of("-Xmx512m", "-Dai.djl.pytorch.num_threads=1", "-Dsmp.comm.timeout.s=" + TIMEOUT_S,
                        "-Dorg.slf4j.simpleLogger.log.ai.djl=warn", "-DDJL_DISABLE_PROGRESS_BAR=true"))
                .stopOthersOnFailure(stopOthers));
    }

    @Test
    void killedRankMidTraining() throws Exception {
        TestSupport.Background run = start(false);
        run.awaitLine("[rank 0] step 3/", 120);
        long t0 = System.nanoTime();
        run.launcher().processes().get(3).destroyForcibly(); // SIGKILL
        int code = run.exit().get(120, TimeUnit.SECONDS);
        double seconds = (System.nanoTime() - t0) / 1e9;
        run.pool().shutdown();
        String out = run.output();
        assertEquals(137, code, out);
        assertEquals("rank 3 was killed by SIGKILL (exit code 137)", run.launcher().failureMessage());
        for (int r = 0; r < 3; r++) {
            assertTrue(run.launcher().processes().get(r).exitValue() != 0, "rank " + r + " exit; output:\n" + out);
        }
        // The survivor that waited on rank 3 directly names it.
        assertTrue(out.lines().anyMatch(l -> l.contains(" stops: ") && (l.contains("with peer rank 3")
                || l.contains("(world rank 3)"))), "someone names rank 3:\n" + out);
        assertTrue(seconds < 3 * TIMEOUT_S + 20, "everyone was gone " + seconds + " s after the kill:\n" + out);
        System.out.printf("SIGKILL of rank 3 mid-training -> all ranks gone after %.1f s (timeout %.1f s)%n",
                seconds, TIMEOUT_S);
    }

    @Test
    void stoppedRankMidTraining() throws Exception {
        TestSupport.Background run = start(true);
        run.awaitLine("[rank 0] step 3/", 120);
        long t0 = System.nanoTime();
        long pid = run.launcher().processes().get(1).pid();
        assertEquals(0, new ProcessBuilder("kill", "-STOP", Long.toString(pid)).start().waitFor()); // silent rank
        int code = run.exit().get(120, TimeUnit.SECONDS);
        double seconds = (System.nanoTime() - t0) / 1e9;
        run.pool().shutdown();
        String out = run.output();
        assertTrue(code != 0, out);
        assertTrue(out.lines().anyMatch(l -> l.contains(" stops: ") && (l.contains("with peer rank 1")
                || l.contains("(world rank 1)"))), "a survivor names the silent rank 1:\n" + out);
        // The launcher stopped everyone, the stopped rank included (SIGKILL works on a stopped process).
        for (Process p : run.launcher().processes()) {
            assertTrue(!p.isAlive(), "a rank survived:\n" + out);
        }
        assertTrue(seconds < 2 * TIMEOUT_S + 20, "job gone " + seconds + " s after SIGSTOP:\n" + out);
        System.out.printf("SIGSTOP of rank 1 mid-training -> job gone after %.1f s (timeout %.1f s): %s%n", seconds,
                TIMEOUT_S, run.launcher().failureMessage());
    }
}
