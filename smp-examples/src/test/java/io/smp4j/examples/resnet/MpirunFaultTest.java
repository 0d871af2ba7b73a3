package io.smp4j.examples.resnet;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.smp4j.comm.TestSupport;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A rank killed while the example trains under Open MPI's mpirun: the job ends non-zero, naming the rank. */
class MpirunFaultTest {
    /** The java process of {@code rank} among mpirun's descendants (its environment names the rank). */
    static Optional<ProcessHandle> rankProcess(Process mpirun, int rank) {
        return mpirun.descendants().filter(h -> {
            try {
                String env = Files.readString(Path.of("/proc", Long.toString(h.pid()), "environ"),
                        StandardCharsets.ISO_8859_1);
                return env.contains("\0OMPI_COMM_WORLD_RANK=" + rank + "\0") && h.info().command().orElse("")
                        .endsWith("java");
            } catch (java.io.IOException e) {
                return false;
            }
        }).findFirst();
    }

    @Test
    void killedRankUnderMpirun() throws Exception {
        int port = TestSupport.freePort();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = List.of("mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "2",
                "-x", "MASTER_ADDR=127.0.0.1", "-x", "MASTER_PORT=" + port, "-x", "SMP_JOB_TOKEN=mpirun-fault-test",
                java, "-Xmx512m", "-Dai.djl.pytorch.num_threads=1", "-Dsmp.comm.timeout.s=5",
                "-Dorg.slf4j.simpleLogger.log.ai.djl=warn", "-DDJL_DISABLE_PROGRESS_BAR=true",
                "-cp", System.getProperty("java.class.path"), ResNet18Training.class.getName(),
                "--partitions", "2", "--microbatches", "2", "--batch-size", "8", "--image-size", "32",
                "--generated-images", "32", "--epochs", "1000", "--no-eval", "--log-every", "1");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        TestSupport.clearLaunchVariables(pb.environment());
        Process mpirun = pb.start();
        StringBuffer out = new StringBuffer();
        Thread reader = new Thread(() -> {
            try (var in = new java.io.BufferedReader(new java.io.InputStreamReader(mpirun.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    out.append(line).append('\n');
                }
            } catch (java.io.IOException ignored) {
                // gone
            }
        });
        reader.setDaemon(true);
        reader.start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
            while (!out.toString().contains("step 3/")) {
                assertTrue(System.nanoTime() < deadline && mpirun.isAlive(), "no step 3 under mpirun:\n" + out);
                Thread.sleep(50);
            }
            ProcessHandle victim = rankProcess(mpirun, 1).orElseThrow(() -> new AssertionError("no rank 1 process"));
            long t0 = System.nanoTime();
            victim.destroyForcibly();
            assertTrue(mpirun.waitFor(60, TimeUnit.SECONDS), "mpirun did not end after the kill:\n" + out);
            double seconds = (System.nanoTime() - t0) / 1e9;
            reader.join(5000);
            String text = out.toString();
            assertTrue(mpirun.exitValue() != 0, text);
            // Open MPI names the dead process (its rank 1) or the survivor names its lost peer.
            assertTrue(text.contains("process rank 1") || text.contains("with peer rank 1") || text.contains("to rank 1"),
                    "the dead rank is named:\n" + text);
            assertTrue(mpirun.descendants().noneMatch(ProcessHandle::isAlive), "a rank outlived mpirun");
            System.out.printf("mpirun: SIGKILL of rank 1 -> job ended (exit %d) after %.1f s%n", mpirun.exitValue(),
                    seconds);
        } finally {
            mpirun.descendants().forEach(ProcessHandle::destroyForcibly);
            mpirun.destroyForcibly();
        }
    }
}
