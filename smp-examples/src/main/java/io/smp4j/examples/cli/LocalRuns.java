package io.smp4j.examples.cli;

import io.smp4j.comm.launch.LaunchPolicy;
import io.smp4j.comm.launch.LocalLauncher;
import java.util.List;
import java.util.Map;

/** Starting a program on local ranks, as {@code ./smp run} and the benchmarks do: one way, one failure message. */
public final class LocalRuns {
    private LocalRuns() {
    }

    /**
     * A launcher for {@code mainClass} on {@code np} local processes with the rank JVM options of {@link LaunchPolicy},
     * its arguments and environment set.
     *
     * @param threads compute threads per rank, 0 for the policy's default
     */
    public static LocalLauncher.Builder builder(int np, int threads, String mainClass, List<String> args,
                                                Map<String, String> env) {
        LocalLauncher.Builder b = LaunchPolicy.launcher(np, threads, mainClass).args(args);
        env.forEach(b::env);
        return b;
    }

    /**
     * Runs the job; returns its exit code, non-zero with the failing rank named on stderr after {@code who}'s name
     * ({@code smp}, {@code bench}) when a rank failed.
     */
    public static int run(LocalLauncher.Builder builder, String who) throws Exception {
        LocalLauncher launcher = builder.build();
        int code = launcher.run();
        if (code != 0) {
            System.err.println(who + ": " + launcher.failureMessage());
        }
        return code;
    }
}
