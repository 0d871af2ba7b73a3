package io.smp4j.comm;

import io.smp4j.comm.launch.LocalLauncher;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/** Settings and launch helpers shared by the multi-process tests of every module (the smp-comm test jar). */
public final class TestSupport {
    private TestSupport() {
    }

    /** Communication timeout for ranks started by tests (pom property smp.test.timeout.s). */
    public static String timeoutSeconds() {
        return System.getProperty("smp.test.timeout.s", "20");
    }

    /** A finished launch: the launcher's exit code and every rank's prefixed output. */
    public record Result(int code, String output) {
    }

    /** Runs {@code launch} to the end, capturing the ranks' output. */
    public static Result run(LocalLauncher.Builder launch) throws IOException, InterruptedException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int code;
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            code = launch.output(out).build().run();
        }
        return new Result(code, bytes.toString(StandardCharsets.UTF_8));
    }

    /** A launch running in the background, for tests that act on it (kill or stop a rank) while it runs. */
    public record Background(LocalLauncher launcher, ByteArrayOutputStream bytes, Future<Integer> exit,
                             ExecutorService pool) {
        public String output() {
            return bytes.toString(StandardCharsets.UTF_8);
        }

        /** Waits until the output contains {@code text}; fails after {@code seconds}. */
        public void awaitLine(String text, double seconds) throws InterruptedException {
            long deadline = System.nanoTime() + (long) (seconds * 1e9);
            while (!output().contains(text)) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("no '" + text + "' within " + seconds + " s; output:\n" + output());
                }
                Thread.sleep(20);
            }
        }
    }

    public static Background start(LocalLauncher.Builder launch) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        LocalLauncher l = launch.output(new PrintStream(bytes, true, StandardCharsets.UTF_8)).build();
        ExecutorService pool = Executors.newSingleThreadExecutor();
        return new Background(l, bytes, pool.submit(l::run), pool);
    }

    /** A TCP port free right now (for MASTER_PORT). */
    public static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** For a child mpirun: drop rank variables the surrounding JVM may have from its own launcher. */
    public static void clearLaunchVariables(Map<String, String> env) {
        // Open MPI settings of the machine (OMPI_MCA_plm_rsh_agent, say) stay unless they came from a surrounding job.
        boolean underMpirun = env.containsKey("OMPI_COMM_WORLD_RANK") || env.containsKey("PMI_RANK")
                || env.containsKey("PMIX_RANK");
        env.keySet().removeIf(k -> k.startsWith("SMP_") || underMpirun && (k.startsWith("OMPI_")
                || k.startsWith("PMI")));
    }
}
