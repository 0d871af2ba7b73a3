package io.smp4j.examples.resnet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.smp4j.comm.TestSupport;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Two hosts for real: network namespaces joined by a veth pair (10.77.0.1, 10.77.0.2), 2 ranks on each, training the
 * example (2 stages x 2 replicas; the data-parallel all-reduce crosses the link, forced onto the TCP ring); then the
 * link is cut mid-run and every rank must leave cleanly, naming whom it lost. Needs root (CI runs as root).
 */
class MultiHostTest {
    static final double TIMEOUT_S = 5.0;
    final StringBuffer output = new StringBuffer();

    static int sh(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", cmd) + " hung");
        }
        if (p.exitValue() != 0) {
            System.out.println(String.join(" ", cmd) + ": " + out);
        }
        return p.exitValue();
    }

    static void must(String... cmd) throws Exception {
        assertEquals(0, sh(cmd), String.join(" ", cmd));
    }

    @Test
    void trainsAcrossTwoHostsAndFailsCleanlyWhenTheLinkIsCut() throws Exception {
        String tag = Long.toString(ProcessHandle.current().pid() % 100000);
        String a = "smpA" + tag;
        String b = "smpB" + tag;
        // Can this machine host network namespaces at all? (Needs root and iproute2; entering one needs / to be a
        // mount point, which a chroot lacks.) Only then is a failure below a failure of smp4j's.
        boolean usable = sh("ip", "netns", "add", a) == 0;
        if (usable && sh("ip", "netns", "exec", a, "true") != 0) {
            sh("ip", "netns", "del", a);
            usable = false;
        }
        Assumptions.assumeTrue(usable, "network namespaces unavailable here (needs root, iproute2, and not a chroot)");
        List<Process> ranks = new ArrayList<>();
        try {
            must("ip", "netns", "add", b);
            must("ip", "link", "add", "vA" + tag, "type", "veth", "peer", "name", "vB" + tag);
            must("ip", "link", "set", "vA" + tag, "netns", a);
            must("ip", "link", "set", "vB" + tag, "netns", b);
            must("ip", "-n", a, "addr", "add", "10.77.0.1/24", "dev", "vA" + tag);
            must("ip", "-n", b, "addr", "add", "10.77.0.2/24", "dev", "vB" + tag);
            for (String ns : new String[] {a, b}) {
                must("ip", "-n", ns, "link", "set", "lo", "up");
                must("ip", "-n", ns, "link", "set", ns.equals(a) ? "vA" + tag : "vB" + tag, "up");
            }
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            for (int r = 0; r < 4; r++) {
                List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", r < 2 ? a : b, java, "-Xmx512m",
                        "-Dai.djl.pytorch.num_threads=1", "-Dsmp.comm.timeout.s=" + TIMEOUT_S,
                        "-Dsmp.comm.allreduce=ring", "-Dorg.slf4j.simpleLogger.log.ai.djl=warn",
                        "-DDJL_DISABLE_PROGRESS_BAR=true", "-cp", System.getProperty("java.class.path"),
                        ResNet18Training.class.getName(), "--partitions", "2", "--ddp", "--microbatches", "2",
                        "--batch-size", "8", "--image-size", "32", "--generated-images", "32", "--epochs", "1000",
                        "--no-eval", "--log-every", "1"));
                ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
                Map<String, String> env = pb.environment();
                TestSupport.clearLaunchVariables(env);
                env.put("SMP_RANK", Integer.toString(r));
                env.put("SMP_WORLD_SIZE", "4");
                env.put("SMP_LOCAL_RANK", Integer.toString(r % 2));
                env.put("SMP_LOCAL_SIZE", "2");
                env.put("MASTER_ADDR", "10.77.0.1");
                env.put("MASTER_PORT", "29631");
                env.put("SMP_JOB_TOKEN", "multi-host-test-" + tag);
                Process p = pb.start();
                ranks.add(p);
                String prefix = "[rank " + r + "] ";
                Thread t = new Thread(() -> {
                    try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(),
                            StandardCharsets.UTF_8))) {
                        String line;
                        while ((line = in.readLine()) != null) {
                            output.append(prefix).append(line).append('\n');
                        }
                    } catch (java.io.IOException ignored) {
                        // process gone
                    }
                });
                t.setDaemon(true);
                t.start();
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
            while (!output.toString().contains("[rank 0] step 3/")) {
                assertTrue(System.nanoTime() < deadline && ranks.stream().allMatch(Process::isAlive),
                        "training did not reach step 3 across the hosts:\n" + output);
                Thread.sleep(50);
            }
            long cut = System.nanoTime();
            must("ip", "-n", a, "link", "set", "vA" + tag, "down");
            for (Process p : ranks) {
                assertTrue(p.waitFor(60, TimeUnit.SECONDS), "a rank did not leave after the cut:\n" + output);
            }
            double seconds = (System.nanoTime() - cut) / 1e9;
            for (int r = 0; r < 4; r++) {
                assertTrue(ranks.get(r).exitValue() != 0, "rank " + r + " exited 0:\n" + output);
            }
            String out = output.toString();
            assertTrue(out.lines().filter(l -> l.contains(" stops: ")).count() >= 2,
                    "the ranks say whom they lost:\n" + out);
            assertTrue(seconds < 4 * TIMEOUT_S + 30, "ranks left " + seconds + " s after the cut:\n" + out);
            System.out.printf("multi-host: trained across 2 namespaces, link cut -> all 4 ranks gone after %.1f s "
                    + "(timeout %.1f s)%n%s", seconds, TIMEOUT_S, out.lines().filter(l -> l.contains(" stops: "))
                    .reduce("", (x, y) -> x + y + "\n"));
        } finally {
            for (Process p : ranks) {
                p.destroyForcibly();
            }
            sh("ip", "netns", "del", a);
            sh("ip", "netns", "del", b);
        }
    }
}
