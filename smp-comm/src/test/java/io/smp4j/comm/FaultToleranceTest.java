package io.smp4j.comm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.smp4j.comm.launch.LocalLauncher;
import io.smp4j.comm.local.LocalCluster;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** A dead or silent rank never hangs the others: real processes, real kills. */
class FaultToleranceTest {
    static final double TIMEOUT_S = 3;

    private static TestSupport.Background start(int np, String mode, boolean stopOthers) {
        return TestSupport.start(new LocalLauncher.Builder(np, FaultMain.class.getName())
                .args(List.of(mode))
                .jvmArgs(List.of("-Xmx128m", "-Dsmp.comm.timeout.s=" + TIMEOUT_S))
                .stopOthersOnFailure(stopOthers));
    }

    /**
     * A stopped rank (SIGSTOP) with the default communication timeout (300 s): the launcher sees it stopped and ends
     * the job, naming it, within seconds, not minutes.
     */
    @Test
    void aStoppedRankIsNamedWithinSecondsWithTheDefaultTimeout() throws Exception {
        TestSupport.Background run = TestSupport.start(new LocalLauncher.Builder(3, FaultMain.class.getName())
                .args(List.of("allreduce-forever")).jvmArgs(List.of("-Xmx128m")));
        run.awaitLine("[rank 1] READY", 60);
        long pid = run.launcher().processes().get(1).pid();
        long t0 = System.nanoTime();
        assertEquals(0, new ProcessBuilder("kill", "-STOP", Long.toString(pid)).start().waitFor());
        int code = run.exit().get(60, TimeUnit.SECONDS);
        double seconds = (System.nanoTime() - t0) / 1e9;
        run.pool().shutdown();
        assertEquals(LocalLauncher.STALLED_EXIT, code, run.output());
        assertTrue(run.launcher().failureMessage().startsWith("rank 1 (pid " + pid + ") stopped running (process state "
                + "T: SIGSTOP or a debugger)"), run.launcher().failureMessage());
        assertTrue(seconds < 30, "the job ended " + seconds + " s after the stop");
        for (Process p : run.launcher().processes()) {
            assertFalse(p.isAlive());
        }
        System.out.printf("SIGSTOP of rank 1 (default 300 s timeout) -> job ended after %.1f s%n", seconds);
    }

    /** With restarts allowed, a job that fails the same way twice in a row is not started a third time. */
    @Test
    void theSameFailureTwiceIsNotRestartedAgain() throws Exception {
        LocalLauncher.Builder b = new LocalLauncher.Builder(2, FaultMain.class.getName()).args(List.of("rank1-exits"))
                .jvmArgs(List.of("-Xmx128m", "-Dsmp.comm.timeout.s=" + TIMEOUT_S)).maxRestarts(5);
        TestSupport.Background run = TestSupport.start(b);
        int code = run.exit().get(120, TimeUnit.SECONDS);
        run.pool().shutdown();
        String out = run.output();
        assertEquals(7, code, out);
        assertEquals(1, run.launcher().restarts(), out);
        assertEquals("not restarted: the same failure twice in a row; last cause: rank 1 exited with code 7; "
                + "stopping the other 1 rank", run.launcher().failureMessage());
        assertEquals(2, out.lines().filter(l -> l.equals("[rank 1] FAILING")).count(), out);
    }

    static List<String> jobFiles(String job) throws java.io.IOException {
        List<String> out = new java.util.ArrayList<>();
        for (java.nio.file.Path d : JobFiles.dirs()) {
            if (java.nio.file.Files.isDirectory(d)) {
                try (var files = java.nio.file.Files.list(d)) {
                    files.map(f -> f.getFileName().toString()).filter(n -> n.startsWith("smp4j-" + job + "-"))
                            .forEach(out::add);
                }
            }
        }
        return out;
    }

    /**
     * A rank killed after creating a job file and before anyone unlinked it (the window the shared-memory all-reduce
     * and the Unix sockets have): the launcher removes the job's files when the job ends.
     */
    @Test
    void aKilledRanksFilesAreRemovedByTheLauncher() throws Exception {
        TestSupport.Background run = start(2, "leak", true);
        int code = run.exit().get(60, TimeUnit.SECONDS);
        run.pool().shutdown();
        String out = run.output();
        assertEquals(137, code, out);
        Matcher m = Pattern.compile("LEAKED (\\S+)").matcher(out);
        assertTrue(m.find(), out);
        assertTrue(m.group(1).contains("smp4j-" + run.launcher().jobId() + "-"), m.group(1));
        assertFalse(java.nio.file.Files.exists(java.nio.file.Path.of(m.group(1))), "left behind: " + m.group(1));
        assertEquals(List.of(), jobFiles(run.launcher().jobId()));
    }

    @Test
    void survivorsOfAKilledRankFailWithinTheTimeoutNamingPeerTagAndOperation() throws Exception {
        TestSupport.Background run = start(3, "allreduce-forever", false);
        run.awaitLine("[rank 2] READY", 60);
        long killedAt = System.nanoTime();
        run.launcher().processes().get(2).destroyForcibly(); // SIGKILL mid-exchange
        int code = run.exit().get(60, TimeUnit.SECONDS);
        double seconds = (System.nanoTime() - killedAt) / 1e9;
        run.pool().shutdown();
        String out = run.output();
        assertEquals(137, code, "the first failure is rank 2's SIGKILL; output:\n" + out);
        assertEquals("rank 2 was killed by SIGKILL (exit code 137)", run.launcher().failureMessage());
        Pattern detected = Pattern.compile("\\[rank (\\d)] DETECTED rank (\\d) of group 'world' timed out after "
                + "3\\.0 s in (allReduce \\((?:recv from|send to|shared memory, inputs|shared memory, results)\\)) "
                + "with peer rank (\\d)(?: \\(tag (\\d+)\\))?:");
        Matcher m = detected.matcher(out);
        int survivors = 0;
        boolean someoneNamesRank2 = false;
        while (m.find()) {
            survivors++;
            assertEquals(m.group(1), m.group(2), "the message names the rank that printed it");
            assertTrue(m.group(5) == null || Integer.parseInt(m.group(5)) > Communicator.MAX_USER_TAG,
                    "collective tag");
            someoneNamesRank2 |= m.group(4).equals("2");
        }
        assertEquals(2, survivors, "both survivors detect the loss; output:\n" + out);
        assertTrue(someoneNamesRank2, "the survivor waiting on rank 2 names it; output:\n" + out);
        assertTrue(seconds < TIMEOUT_S + 10, "survivors exited " + seconds + " s after the kill");
        // The shared-memory all-reduce unlinks its file once mapped: a killed job leaves nothing in /dev/shm (this
        // job's files only: another job beside it may have one).
        assertEquals(List.of(), jobFiles(run.launcher().jobId()));
        System.out.printf("killed rank 2 -> survivors exited after %.2f s (timeout %.1f s)%n", seconds, TIMEOUT_S);
    }

    /**
     * On one host the ranks talk through Unix domain sockets: a killed rank's connections close, and a neighbour
     * waiting on it in the ring all-reduce learns it at once (well within the 60 s timeout), naming it.
     */
    @Test
    void aKilledRanksSocketClosesAndItsNeighbourFailsAtOnceNamingIt() throws Exception {
        TestSupport.Background run = TestSupport.start(new LocalLauncher.Builder(3, FaultMain.class.getName())
                .args(List.of("allreduce-forever"))
                .jvmArgs(List.of("-Xmx128m", "-Dsmp.comm.timeout.s=60", "-Dsmp.comm.allreduce=ring"))
                .stopOthersOnFailure(false));
        run.awaitLine("[rank 2] READY", 60);
        long killedAt = System.nanoTime();
        run.launcher().processes().get(2).destroyForcibly();
        run.awaitLine("LOST", 30);
        double seconds = (System.nanoTime() - killedAt) / 1e9;
        run.launcher().processes().forEach(Process::destroyForcibly);
        run.exit().get(30, TimeUnit.SECONDS);
        run.pool().shutdown();
        String out = run.output();
        assertTrue(seconds < 10, "the loss was noticed " + seconds + " s after the kill; output:\n" + out);
        // Whichever notices first: a receive from rank 2 (its connection closed) or a send to it (broken pipe).
        assertTrue(Pattern.compile("\\[rank ([01])] LOST rank \\1 of group 'world' failed in allReduce "
                + "\\((recv from|send to)\\) with peer rank 2: (the connection from rank 2 to rank [01] failed|"
                + "rank 2 closed its connection to rank [01]|send to rank 2 \\(tag \\d+\\) failed)")
                .matcher(out).find(), out);
        System.out.printf("killed rank 2 -> a neighbour failed after %.2f s (timeout 60 s)%n", seconds);
    }

    @Test
    void launcherStopsTheOthersWhenARankFails() throws Exception {
        TestSupport.Background run = start(3, "rank1-fails", true);
        long t0 = System.nanoTime();
        int code = run.exit().get(60, TimeUnit.SECONDS);
        double seconds = (System.nanoTime() - t0) / 1e9;
        run.pool().shutdown();
        assertEquals(7, code, run.output());
        assertEquals("rank 1 exited with code 7; stopping the other 2 ranks", run.launcher().failureMessage());
        assertTrue(seconds < 30, "took " + seconds + " s");
        for (Process p : run.launcher().processes()) {
            assertTrue(!p.isAlive(), "a rank outlived the launcher");
        }
    }

    @Test
    void launcherStopsTheOthersWhenARankIsKilled() throws Exception {
        TestSupport.Background run = start(3, "allreduce-forever", true);
        run.awaitLine("[rank 1] READY", 60);
        run.launcher().processes().get(1).destroyForcibly();
        int code = run.exit().get(30, TimeUnit.SECONDS);
        run.pool().shutdown();
        assertEquals(137, code);
        assertEquals("rank 1 was killed by SIGKILL (exit code 137); stopping the other 2 ranks",
                run.launcher().failureMessage());
    }

    @Test
    void inJvmKilledRankIsSilentAndPeersTimeOut() {
        LocalCluster cluster = new LocalCluster(3, Duration.ofMillis(400));
        cluster.kill(2);
        AssertionError e = org.junit.jupiter.api.Assertions.assertThrows(AssertionError.class, () -> {
            try {
                cluster.run(c -> {
                    if (c.rank() != 2) {
                        c.allReduce(new float[10], ReduceOp.SUM);
                    }
                });
            } catch (CommException ex) {
                throw new AssertionError(ex.getMessage(), ex);
            }
        });
        assertTrue(e.getMessage().contains("timed out after 0.4 s in allReduce"), e.getMessage());
    }
}
