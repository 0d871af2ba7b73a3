package io.smp4j.examples;

import io.smp4j.comm.launch.LaunchPolicy;
import io.smp4j.comm.launch.LocalLauncher;
import io.smp4j.core.device.JCudaProbe;
import io.smp4j.examples.bench.BenchSuite;
import io.smp4j.examples.bench.CommBench;
import io.smp4j.examples.bench.GpuBench;
import io.smp4j.examples.bench.TrainBench;
import io.smp4j.examples.cli.ClassPaths;
import io.smp4j.examples.cli.CommandLines;
import io.smp4j.examples.cli.LocalRuns;
import io.smp4j.examples.resnet.ResNet18Training;
import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine;

/**
 * The Java side of {@code ./smp}: {@code run -np N EXAMPLE [options]} starts a built-in example, and
 * {@code run -np N --cp CP MAIN-CLASS [args]} any program, on a local simulated cluster of N processes (127.0.0.1,
 * MPJ Express niodev); {@code doctor} says what smp4j finds on this machine; {@code bench} runs the benchmarks.
 */
public final class Cli {
    /** Example name -> main class. */
    static final Map<String, String> EXAMPLES = new LinkedHashMap<>();

    static {
        EXAMPLES.put("resnet18", ResNet18Training.class.getName());
        EXAMPLES.put("gpt", io.smp4j.examples.gpt.GptTraining.class.getName());
        EXAMPLES.put("allreduce", AllReduceDemo.class.getName());
        EXAMPLES.put("commbench", CommBench.class.getName());
        EXAMPLES.put("trainbench", TrainBench.class.getName());
    }

    static final String USAGE = """
            usage: ./smp run -np N EXAMPLE [options]            an example on N local processes (examples: %s)
                   ./smp run -np N --cp CP MAIN-CLASS [args]     your own program (CP: your jars; see README, --cp)
                   ./smp doctor                                  what smp4j finds here (engine, MPJ, mpirun, GPUs)
                   ./smp bench [--out DIR] [--steps N]           the benchmark suite; report in DIR/benchmarks.md
                   ./smp bench comm [--max-bytes N] [--segment-floats N] [--no-mpj]
                   ./smp bench gpu [--out DIR]                   the GPU benchmarks; report in DIR/benchmarks-gpu.md
                   ./smp bench gpt [--out DIR] [--fp16-row] [gpt options]  large-model memory per rank (DIR/benchmarks-gpt.md)
                   ./smp COMMAND --help                          a command's options
            """;

    private Cli() {
    }

    public static void main(String[] args) throws Exception {
        System.exit(run(List.of(args)));
    }

    /** Runs a command line ({@code run ...}, {@code doctor}, {@code bench ...}); returns the exit code. */
    public static int run(List<String> args) throws Exception {
        if (args.isEmpty()) {
            return usage("no command given");
        }
        List<String> rest = args.subList(1, args.size());
        try {
            return switch (args.get(0)) {
                case "run" -> runCommand(rest);
                case "doctor" -> rest.contains("--help") || rest.contains("-h")
                        ? help("./smp doctor: what smp4j finds on this machine: Java, the DJL engine, MPJ Express, "
                        + "mpirun, GPUs (memory, peer access), and under mpirun this rank and its device. No options.")
                        : Doctor.run(System.out, new JCudaProbe(), System.getenv());
                case "bench" -> bench(rest);
                case "help", "-h", "--help" -> {
                    System.out.print(String.format(USAGE, String.join(", ", EXAMPLES.keySet())));
                    yield 0;
                }
                default -> usage("unknown command '" + args.get(0) + "'");
            };
        } catch (IllegalArgumentException e) {
            return usage(e.getMessage());
        }
    }

    /** {@code ./smp run}'s own options; everything from the example or class name on belongs to the program. */
    @Command(name = "run", usageHelpWidth = 110, description = "Starts a program on N local processes.")
    static final class RunOptions {
        @Option(names = "-np", paramLabel = "N", converter = Processes.class,
                description = "processes (ranks), default ${DEFAULT-VALUE}")
        int np = 1;
        @Option(names = "--cp", paramLabel = "CLASSPATH",
                description = "your program's class path (jars, folders; ':'-separated), put before smp4j's own "
                        + "(its modules, DJL with the CPU libtorch, MPJ Express, slf4j-simple); then name a main "
                        + "class instead of an example")
        String classpath;
        @Option(names = "--threads", paramLabel = "T", converter = CommandLines.Positive.class,
                description = "PyTorch compute threads per rank (default: cores / N)")
        int threads;
        @Option(names = "--max-restarts", paramLabel = "N", converter = CommandLines.NonNegative.class,
                description = "when a rank fails, start every rank again, up to N times (torchrun's option); a program "
                        + "that saves checkpoints resumes from the newest (the examples with --checkpoint-dir); not "
                        + "restarted: a refused configuration, the same failure twice in a row")
        int maxRestarts;
        @Option(names = {"-h", "--help"}, usageHelp = true, description = "this help")
        boolean help;
        @Parameters(index = "0", arity = "0..1", paramLabel = "EXAMPLE|MAIN-CLASS",
                description = "a built-in example, or with --cp a main class")
        String target;
        @Parameters(index = "1..*", paramLabel = "ARGS", description = "the program's arguments")
        List<String> args = new ArrayList<>();
    }

    /** {@code -np}: a number of processes. */
    public static final class Processes extends CommandLines.AtLeast {
        public Processes() {
            super(1, "a number of processes");
        }
    }

    static int runCommand(List<String> args) throws Exception {
        RunOptions o = new RunOptions();
        CommandLine cl = new CommandLine(o).setStopAtPositional(true);
        CommandLines.Parsed p = CommandLines.parse(cl, args);
        if (p.help()) {
            System.out.print(p.usage());
            return 0;
        }
        if (o.target == null) {
            return usage(o.classpath == null ? "no example given; available: " + String.join(", ", EXAMPLES.keySet())
                    : "no main class given after --cp");
        }
        String main = o.target;
        String classpath = System.getProperty("java.class.path");
        if (o.classpath != null) {
            classpath = ClassPaths.forUser(o.classpath, callerDir(), classpath);
        } else {
            main = EXAMPLES.get(o.target);
            if (main == null) {
                return usage("unknown example '" + o.target + "'; available: " + String.join(", ", EXAMPLES.keySet())
                        + " (your own program: ./smp run -np N --cp CLASSPATH MAIN-CLASS)");
            }
        }
        // The ranks run where the user ran ./smp: their relative paths (--metrics-json, --checkpoint-dir) mean what
        // the user meant.
        LocalLauncher.Builder b = LocalRuns.builder(o.np, o.threads, main, o.args, Map.of()).classpath(classpath)
                .directory(callerDir()).maxRestarts(o.maxRestarts);
        return LocalRuns.run(b, "smp");
    }

    /** Where the user ran {@code ./smp} (it changes into its own checkout); this process's directory otherwise. */
    static Path callerDir() {
        return Path.of(System.getProperty("smp.caller.dir", System.getProperty("user.dir"))).toAbsolutePath();
    }

    static int bench(List<String> args) throws Exception {
        boolean named = !args.isEmpty() && !args.get(0).startsWith("-");
        if (named && args.get(0).equals("gpt") && (args.contains("--help") || args.contains("-h"))) {
            USAGE.lines().filter(l -> l.contains("bench gpt")).forEach(l -> System.out.println(l.strip()));
            System.out.println("  runs the gpt example (32 layers, hidden 1024: ~400 M parameters, Adam) at -np 1 and -np 4; "
                    + "gpt options given here override the model's");
            return 0;
        }
        String what = named ? args.get(0) : "all";
        List<String> extra = args.subList(named ? 1 : 0, args.size());
        return switch (what) {
            case "all" -> BenchSuite.main(extra);
            case "gpu" -> GpuBench.main(extra);
            case "gpt" -> io.smp4j.examples.bench.GptMemoryBench.main(extra);
            case "comm" -> {
                int code = 0;
                for (int np : new int[] {2, 4}) {
                    code |= launch(np, 0, EXAMPLES.get("commbench"), extra, Map.of(),
                            System.getProperty("java.class.path"));
                }
                yield code;
            }
            default -> usage("unknown benchmark '" + what + "'; available: all (the suite and its report), comm, gpu, "
                    + "gpt");
        };
    }

    /**
     * Starts {@code mainClass} on {@code np} local processes with the rank JVM options of {@link LaunchPolicy};
     * returns the exit code (non-zero, with the failing rank named on stderr, when a rank failed).
     *
     * @param threads compute threads per rank, 0 for the policy's default
     */
    public static int launch(int np, int threads, String mainClass, List<String> args, Map<String, String> env,
                             String classpath) throws Exception {
        return LocalRuns.run(LocalRuns.builder(np, threads, mainClass, args, env).classpath(classpath), "smp");
    }

    private static int help(String text) {
        System.out.println(text);
        return 0;
    }

    private static int usage(String problem) {
        System.err.println("smp: " + problem);
        System.err.print(String.format(USAGE, String.join(", ", EXAMPLES.keySet())));
        return 2;
    }
}
