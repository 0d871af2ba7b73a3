package io.smp4j.examples;

import io.smp4j.comm.launch.LocalLauncher;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Java side of {@code ./smp}: {@code run -np N EXAMPLE [options]} starts EXAMPLE on a local simulated cluster
 * of N processes (127.0.0.1, MPJ Express niodev); {@code bench comm} runs the communication benchmark on 2 and 4
 * ranks.
 */
public final class Cli {
    /** Example name -> main class. */
    static final Map<String, String> EXAMPLES = new LinkedHashMap<>();

    static {
        EXAMPLES.put("resnet18", io.smp4j.examples.resnet.ResNet18Training.class.getName());
        EXAMPLES.put("allreduce", AllReduceDemo.class.getName());
        EXAMPLES.put("commbench", io.smp4j.examples.bench.CommBench.class.getName());
        EXAMPLES.put("trainbench", io.smp4j.examples.bench.TrainBench.class.getName());
    }

    private Cli() {
    }

    public static void main(String[] args) throws Exception {
        System.exit(run(List.of(args)));
    }

    /** Runs a command line ({@code run ...}, {@code bench ...}); returns the exit code. */
    public static int run(List<String> args) throws Exception {
        if (args.isEmpty()) {
            return usage("no command given");
        }
        switch (args.get(0)) {
            case "run" -> {
                return runExample(args.subList(1, args.size()));
            }
            case "doctor" -> {
                return Doctor.run(System.out, new io.smp4j.core.device.JCudaProbe(), System.getenv());
            }
            case "bench" -> {
                boolean named = args.size() > 1 && !args.get(1).startsWith("--");
                String what = named ? args.get(1) : "all";
                List<String> extra = args.subList(named ? 2 : 1, args.size());
                switch (what) {
                    case "all" -> {
                        return io.smp4j.examples.bench.BenchSuite.main(extra);
                    }
                    case "comm" -> {
                        int code = 0;
                        for (int np : new int[] {2, 4}) {
                            code |= launch(np, EXAMPLES.get("commbench"), extra);
                        }
                        return code;
                    }
                    default -> {
                        return usage("unknown benchmark '" + what + "'; available: all (the suite and its report), "
                                + "comm");
                    }
                }
            }
            default -> {
                return usage("unknown command '" + args.get(0) + "'");
            }
        }
    }

    static int runExample(List<String> args) throws Exception {
        int np = 1;
        int i = 0;
        if (args.size() >= 2 && args.get(0).equals("-np")) {
            try {
                np = Integer.parseInt(args.get(1));
            } catch (NumberFormatException e) {
                return usage("-np needs a number of processes, got '" + args.get(1) + "'");
            }
            if (np < 1) {
                return usage("-np must be at least 1, got " + np);
            }
            i = 2;
        }
        if (i >= args.size()) {
            return usage("no example given; available: " + String.join(", ", EXAMPLES.keySet()));
        }
        String main = EXAMPLES.get(args.get(i));
        if (main == null) {
            return usage("unknown example '" + args.get(i) + "'; available: " + String.join(", ", EXAMPLES.keySet()));
        }
        return launch(np, main, args.subList(i + 1, args.size()));
    }

    /** Starts {@code mainClass} on {@code np} local processes (see {@code ./smp run}); returns the exit code. */
    public static int launch(int np, String mainClass, List<String> exampleArgs) throws Exception {
        return launch(np, mainClass, exampleArgs, Map.of());
    }

    /** As {@link #launch(int, String, List)}, with extra environment variables for the ranks. */
    public static int launch(int np, String mainClass, List<String> exampleArgs, Map<String, String> env)
            throws Exception {
        List<String> jvm = new ArrayList<>();
        jvm.add("-Xmx" + System.getProperty("smp.rank.xmx", "2g"));
        for (String prop : new String[] {"smp.comm.timeout.s", "smp.comm.allreduce"}) {
            if (System.getProperty(prop) != null) {
                jvm.add("-D" + prop + "=" + System.getProperty(prop));
            }
        }
        // N ranks share this machine's cores: one rank's PyTorch must not take them all (oversubscription makes
        // every rank slower than the pipeline's bubbles).
        int cores = Runtime.getRuntime().availableProcessors();
        jvm.add("-Dai.djl.pytorch.num_threads=" + System.getProperty("ai.djl.pytorch.num_threads",
                Integer.toString(Math.max(1, cores / np))));
        jvm.add("-Dai.djl.pytorch.num_interop_threads=1");
        jvm.add("-Djava.awt.headless=true");
        // DJL's start-up chatter (engine info; "Failed to detect GPU count" on machines without a GPU) stays out.
        jvm.add("-Dorg.slf4j.simpleLogger.log.ai.djl=" + System.getProperty("smp.djl.log", "warn"));
        jvm.add("-Dorg.slf4j.simpleLogger.log.ai.djl.util.cuda=" + System.getProperty("smp.djl.log", "error"));
        LocalLauncher.Builder builder = new LocalLauncher.Builder(np, mainClass).args(exampleArgs).jvmArgs(jvm);
        env.forEach(builder::env);
        LocalLauncher launcher = builder.build();
        int code = launcher.run();
        if (code != 0) {
            System.err.println("smp: " + launcher.failureMessage());
        }
        return code;
    }

    private static int usage(String problem) {
        System.err.println("smp: " + problem);
        System.err.println("usage: ./smp run -np N EXAMPLE [options]   (examples: "
                + String.join(", ", EXAMPLES.keySet()) + ")");
        System.err.println("       ./smp bench [--out DIR] [--steps N]   the suite; report in DIR/benchmarks.md");
        System.err.println("       ./smp doctor                         what smp4j finds here (engine, MPJ, mpirun, GPUs)");
        System.err.println("       ./smp bench comm [--max-bytes N] [--segment-floats N] [--no-mpj]");
        return 2;
    }
}
