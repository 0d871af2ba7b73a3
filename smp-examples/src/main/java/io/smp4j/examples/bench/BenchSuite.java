package io.smp4j.examples.bench;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.smp4j.comm.launch.LaunchPolicy;
import io.smp4j.examples.cli.CommandLines;
import io.smp4j.examples.cli.LocalRuns;
import io.smp4j.examples.support.Versions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@code ./smp bench}: the whole benchmark suite, every comparison measured side by side in one run, written as a
 * Markdown report and JSON ({@code docs/benchmarks.md}, {@code docs/benchmarks.json} by default).
 * <ol>
 *   <li>runtime overhead: {@code @Step} (partitions 1, microbatches 1) vs a plain DJL Trainer loop;</li>
 *   <li>pipeline efficiency: 2 stages on 2 processes x 1 thread, M = 4, 8, 16, both schedules, vs 1 process x 1
 *   thread, beside M/(M+P-1);</li>
 *   <li>data parallel: smp4j (partitions 1, ddp) vs PyTorch DDP (gloo), 2 processes x 1 thread;</li>
 *   <li>communication: smp4j's p2p / ring / shared-memory all-reduce vs MPJ's Allreduce vs gloo, 2 and 4 ranks;</li>
 *   <li>memory: peak resident memory per rank during the steps, simple vs interleaved at M = 16.</li>
 * </ol>
 */
public final class BenchSuite {
    static final Gson GSON = new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues().create();
    final Path work;
    /** The PyTorch peer script, and the Python that runs it. */
    final Path python;
    final String interpreter;
    /** Compute threads per rank (0: the launch policy's cores / N). */
    final int threads;
    final Map<String, Object> results = new LinkedHashMap<>();
    final int steps;

    BenchSuite(Path work, Path python, int steps) {
        this(work, python, "/usr/bin/python3", steps, 1);
    }

    BenchSuite(Path work, Path python, String interpreter, int steps, int threads) {
        this.work = work;
        this.python = python;
        this.interpreter = interpreter;
        this.threads = threads;
        this.steps = steps;
    }

    @Command(name = "bench", description = "The benchmark suite: every comparison side by side, one report.")
    static final class Options {
        @Option(names = "--out", paramLabel = "DIR", description = "report folder (default ${DEFAULT-VALUE})")
        Path out = Path.of("docs");
        @Option(names = "--steps", paramLabel = "N", converter = CommandLines.Positive.class,
                description = "timed steps per run (default ${DEFAULT-VALUE})")
        int steps = 12;
        @Option(names = {"-h", "--help"}, usageHelp = true, description = "this help")
        boolean help;
    }

    public static int main(List<String> args) throws Exception {
        Options o = new Options();
        CommandLines.Parsed parsed = CommandLines.parse(o, args);
        if (parsed.help()) {
            System.out.print(parsed.usage());
            return 0;
        }
        Path out = o.out;
        int steps = o.steps;
        BenchSuite b = new BenchSuite(Files.createTempDirectory("smp4j-bench"), peerScript(), steps);
        long t0 = System.nanoTime();
        b.results.put("machine", machine());
        b.overhead();
        b.pipeline();
        b.dataParallel();
        b.comm();
        b.memory();
        b.results.put("suite_minutes", (System.nanoTime() - t0) / 60e9);
        Files.createDirectories(out);
        Files.writeString(out.resolve("benchmarks.json"), GSON.toJson(b.results));
        Files.writeString(out.resolve("benchmarks.md"), new BenchReport(JsonParser.parseString(GSON.toJson(b.results))
                .getAsJsonObject()).markdown() + LargeModelSection.of(out));
        System.out.println("bench: report " + out.resolve("benchmarks.md") + ", data " + out.resolve("benchmarks.json")
                + String.format(Locale.ROOT, " (%.1f min)", (System.nanoTime() - t0) / 60e9));
        return 0;
    }

    /** The PyTorch peer script of the checkout this runs from. */
    static Path peerScript() {
        return Path.of(System.getProperty("smp.root", ".")).resolve("smp-examples/src/main/python/torch_bench.py")
                .toAbsolutePath();
    }

    /** Runs TrainBench on {@code np} ranks; returns its JSON. */
    JsonObject train(String name, int np, String... args) throws Exception {
        return train(name, np, Map.of(), args);
    }

    JsonObject train(String name, int np, Map<String, String> env, String... args) throws Exception {
        return run(TrainBench.class.getName(), name, np, env, args);
    }

    /** Runs rank program {@code main} on {@code np} ranks with 1 PyTorch thread each; returns its JSON. */
    JsonObject run(String main, String name, int np, Map<String, String> env, String... args) throws Exception {
        Path file = work.resolve(name + ".json");
        List<String> a = new ArrayList<>(List.of(args));
        a.addAll(List.of("--out", file.toString()));
        if (!a.contains("--steps")) {
            a.addAll(List.of("--steps", Integer.toString(steps)));
        }
        System.out.println("bench: " + name + " (" + np + " process" + (np > 1 ? "es" : "") + ") " + a);
        int code = launch(np, threads, main, a, env);
        if (code != 0 || !Files.exists(file)) {
            throw new IllegalStateException("benchmark " + name + " failed (exit " + code + ")");
        }
        return JsonParser.parseString(Files.readString(file)).getAsJsonObject();
    }

    void overhead() throws Exception {
        Map<String, Object> r = new LinkedHashMap<>();
        for (String model : new String[] {"resnet18", "djl-resnet18"}) {
            // Alternating rounds of 6 steps each after one warm-up round (more rounds for the cheap model).
            r.put(model, run(OverheadBench.class.getName(), "overhead-" + model, 1, Map.of(), "--model", model,
                    "--image-size", "64",
                    "--batch-size", "32", "--rounds", model.equals("resnet18") ? "4" : "10", "--steps", "6"));
        }
        results.put("overhead", r);
    }

    /**
     * Two passes over the baseline and the pipelined configurations, so that a slow spell of this shared machine does
     * not land on one configuration only; each configuration's numbers merge both passes (median over all timed
     * steps, mean compute per rank). Every pipelined run balances time only (memory_weight 0: what throughput wants)
     * and runs 40 warm-up steps: they cover the first re-partitioning checks (default repartition_steps 5, then 10 and 20
     * steps later while the plan is kept), and the JIT compiler, which took 5-35% of a core in the first 20 s
     * of a run on the 2-core machine and made the other rank wait, has mostly settled; "before" keeps the first plan
     * (repartition_steps 0); "no-run-ahead" sets active_microbatches to 2, so that stage 0 keeps 1F1B's own order.
     */
    void pipeline() throws Exception {
        Map<String, List<JsonObject>> runs = new LinkedHashMap<>();
        String[][] configs = {
            {"simple-M8", "simple", "8", "1", "5"},
            {"interleaved-M4", "interleaved", "4", "1", "5"},
            {"interleaved-M8-before", "interleaved", "8", "1", "0"},
            {"interleaved-M8", "interleaved", "8", "1", "5"},
            {"interleaved-M8-no-run-ahead", "interleaved", "8", "1", "5"},
            {"interleaved-M16", "interleaved", "16", "1", "5"},
            {"interleaved-M8-v2", "interleaved", "8", "2", "5"},
            {"interleaved-M16-v2", "interleaved", "16", "2", "5"},
        };
        for (int pass = 0; pass < 2; pass++) {
            runs.computeIfAbsent("baseline", k -> new ArrayList<>()).add(train("pipeline-1proc-" + pass, 1,
                    "--partitions", "1", "--microbatches", "1"));
            for (String[] c : configs) {
                List<String> args = new ArrayList<>(List.of("--partitions", "2", "--microbatches", c[2], "--pipeline",
                        c[1], "--optimize", "speed", "--memory-weight", "0", "--virtual-stages", c[3],
                        "--repartition-steps", c[4], "--warmup", "40"));
                if (c[0].endsWith("no-run-ahead")) {
                    args.addAll(List.of("--active-microbatches", "2")); // = partitions: stage 0 keeps 1F1B's order
                }
                runs.computeIfAbsent(c[0], k -> new ArrayList<>()).add(train("pipeline-" + c[0] + "-" + pass, 2,
                        args.toArray(new String[0])));
            }
        }
        Map<String, Object> r = new LinkedHashMap<>();
        runs.forEach((k, v) -> r.put(k, BenchRuns.merge(v)));
        results.put("pipeline", r);
    }

    /** Activation memory: batch 128 in 16 microbatches of 8, so that the activations outweigh the JVM and libtorch. */
    void memory() throws Exception {
        Map<String, Object> r = new LinkedHashMap<>();
        for (String key : new String[] {"simple", "interleaved", "simple+checkpointing", "interleaved+checkpointing"}) {
            String p = key.split("\\+")[0];
            List<String> args = new ArrayList<>(List.of("--partitions", "2", "--microbatches", "16", "--batch-size",
                    "128", "--pipeline", p, "--optimize", "speed", "--steps", "3", "--warmup", "1"));
            if (key.endsWith("checkpointing")) {
                args.add("--activation-checkpointing");
            }
            // A fixed mmap threshold: glibc then maps every block >= 128 KB (activations) separately and returns it
            // on free, so that resident memory follows the live tensors instead of glibc's retained heap; glibc's
            // default trimming and arenas (not the training policy's, LaunchPolicy.MALLOC_ENV, which keeps freed
            // memory for the next step).
            args.addAll(List.of("--repartition-steps", "0"));
            r.put(key, train("memory-" + key.replace('+', '-'), 2, Map.of("MALLOC_MMAP_THRESHOLD_", "131072",
                    "MALLOC_TRIM_THRESHOLD_", "131072", "MALLOC_ARENA_MAX", Integer.toString(8 * Runtime.getRuntime()
                            .availableProcessors())), args.toArray(new String[0])));
        }
        results.put("memory", r);
    }

    void dataParallel() throws Exception {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("smp4j", train("ddp-smp4j", 2, "--partitions", "1", "--microbatches", "1", "--ddp", "true"));
        r.put("smp4j_after_backward", train("ddp-smp4j-after-backward", 2, "--partitions", "1", "--microbatches",
                "1", "--ddp", "true", "--overlap-allreduce", "false"));
        r.put("pytorch", python("ddp", "ddp-torch", "--nproc", "2", "--batch-size", "32", "--image-size", "64",
                "--steps", Integer.toString(steps)));
        results.put("data_parallel", r);
    }

    void comm() throws Exception {
        Map<String, Object> r = new LinkedHashMap<>();
        StringBuilder sizes = new StringBuilder();
        for (long s : CommBench.sizes(64L << 20)) {
            sizes.append(sizes.length() == 0 ? "" : ",").append(s);
        }
        for (int np : new int[] {2, 4}) {
            Path file = work.resolve("comm-" + np + ".json");
            System.out.println("bench: comm (" + np + " processes)");
            int code = launch(np, 0, CommBench.class.getName(), List.of("--out", file.toString()), Map.of());
            if (code != 0) {
                throw new IllegalStateException("comm benchmark failed on " + np + " ranks");
            }
            r.put("smp4j-" + np, JsonParser.parseString(Files.readString(file)));
            r.put("gloo-" + np, python("allreduce", "gloo-" + np, "--nproc", Integer.toString(np), "--sizes",
                    sizes.toString()));
        }
        results.put("comm", r);
    }

    /** Runs a rank program on {@code np} local processes (see {@link LaunchPolicy}); returns the exit code. */
    static int launch(int np, int threads, String main, List<String> args, Map<String, String> env) throws Exception {
        return LocalRuns.run(LocalRuns.builder(np, threads, main, args, env), "bench");
    }

    /** Runs torch_bench.py; a missing PyTorch is reported, not fatal. */
    JsonElement python(String what, String name, String... args) throws Exception {
        Path file = work.resolve(name + ".json");
        List<String> cmd = new ArrayList<>(List.of(interpreter, python.toString(), what, "--out",
                file.toString()));
        cmd.addAll(List.of(args));
        System.out.println("bench: " + name + " (PyTorch) " + cmd);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(20, TimeUnit.MINUTES) || p.exitValue() != 0 || !Files.exists(file)) {
            System.out.println(out);
            JsonObject o = new JsonObject();
            o.addProperty("error", "PyTorch benchmark failed: " + out.lines().reduce((a, b) -> b).orElse(""));
            return o;
        }
        return JsonParser.parseString(Files.readString(file));
    }

    static Map<String, Object> machine() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("date", ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME));
        m.put("cpu", firstMatch(Path.of("/proc/cpuinfo"), "model name"));
        m.put("cores", Runtime.getRuntime().availableProcessors());
        m.put("memory", firstMatch(Path.of("/proc/meminfo"), "MemTotal"));
        m.put("kernel", System.getProperty("os.version"));
        m.put("java", System.getProperty("java.vm.name") + " " + System.getProperty("java.version"));
        m.put("djl", Versions.engine());
        try {
            m.put("mpj", Versions.mpj());
        } catch (ClassNotFoundException e) {
            m.put("mpj", "missing");
        }
        return m;
    }

    private static String firstMatch(Path file, String key) {
        try {
            for (String line : Files.readAllLines(file)) {
                if (line.startsWith(key)) {
                    return line.substring(line.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException e) {
            return "unknown";
        }
        return "unknown";
    }
}
