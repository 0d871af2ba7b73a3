package io.smp4j.comm.launch;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * How the local launcher starts each rank's JVM when N ranks share this machine: a bounded heap, the engine's
 * compute threads split between the ranks (N ranks that each take every core oversubscribe the machine and are all
 * slower than the pipeline's bubbles), smp4j's own settings passed on, and the engine's start-up chatter kept out.
 * Behind {@code ./smp run}, the benchmarks and the tests that launch ranks.
 *
 * <pre>{@code
 * int code = LaunchPolicy.launcher(4, 0, mainClass).args(args).build().run();   // threads = cores / 4
 * }</pre>
 */
public final class LaunchPolicy {
    /** PyTorch's intra-op and inter-op thread counts in DJL (system properties of the rank JVM). */
    public static final String THREADS_PROPERTY = "ai.djl.pytorch.num_threads";
    public static final String INTEROP_THREADS_PROPERTY = "ai.djl.pytorch.num_interop_threads";
    /** smp4j settings a launching JVM passes on to its ranks when set. */
    static final String[] PASSED_ON = {"smp.comm.timeout.s", "smp.comm.allreduce", "smp.device"};

    private LaunchPolicy() {
    }

    /**
     * glibc malloc settings for the ranks (each only where the launching environment does not set it): one arena and
     * no trimming, so that the arrays a step frees are reused by the next step. With glibc's defaults a JVM's compute
     * thread allocates from a secondary arena, whose 64 MB heaps are unmapped whenever they empty; the next step then
     * faults every page back in. Measured on the 2-core CI machine (ResNet18, microbatches of 4): spells where the
     * 512-channel blocks ran 4-10x slower, each with 90,000-150,000 page faults; none with these settings.
     */
    public static final Map<String, String> MALLOC_ENV = Map.of(
            "MALLOC_ARENA_MAX", "1",
            "MALLOC_TRIM_THRESHOLD_", Long.toString(4L << 30),
            // The largest fixed threshold glibc takes (64-bit): larger blocks are mapped and unmapped each time.
            "MALLOC_MMAP_THRESHOLD_", Integer.toString(32 << 20));

    /**
     * A launcher of {@code np} ranks of {@code mainClass} with this policy's JVM options (see {@link #rankJvmArgs})
     * and malloc settings ({@link #MALLOC_ENV}).
     */
    public static LocalLauncher.Builder launcher(int np, int threads, String mainClass) {
        LocalLauncher.Builder b = new LocalLauncher.Builder(np, mainClass).jvmArgs(rankJvmArgs(np, threads));
        MALLOC_ENV.forEach((k, v) -> {
            if (System.getenv(k) == null) {
                b.env(k, v);
            }
        });
        return b;
    }

    /**
     * The JVM options of each of {@code np} ranks on this machine.
     *
     * @param threads compute threads per rank; 0: the launching JVM's {@value #THREADS_PROPERTY} if set, else
     *                cores / np (at least 1)
     */
    public static List<String> rankJvmArgs(int np, int threads) {
        List<String> jvm = new ArrayList<>();
        jvm.add("-Xmx" + System.getProperty("smp.rank.xmx", "2g"));
        for (String prop : PASSED_ON) {
            if (System.getProperty(prop) != null) {
                jvm.add("-D" + prop + "=" + System.getProperty(prop));
            }
        }
        int cores = Runtime.getRuntime().availableProcessors();
        String t = threads > 0 ? Integer.toString(threads)
                : System.getProperty(THREADS_PROPERTY, Integer.toString(Math.max(1, cores / np)));
        jvm.add("-D" + THREADS_PROPERTY + "=" + t);
        jvm.add("-D" + INTEROP_THREADS_PROPERTY + "=1");
        jvm.add("-Djava.awt.headless=true");
        // DJL's start-up chatter (engine info; "Failed to detect GPU count" on machines without a GPU) stays out.
        jvm.add("-Dorg.slf4j.simpleLogger.log.ai.djl=" + System.getProperty("smp.djl.log", "warn"));
        jvm.add("-Dorg.slf4j.simpleLogger.log.ai.djl.util.cuda=" + System.getProperty("smp.djl.log", "error"));
        return jvm;
    }
}
