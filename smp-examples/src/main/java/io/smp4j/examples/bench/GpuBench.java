package io.smp4j.examples.bench;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.smp4j.core.device.DeviceSelector;
import io.smp4j.core.device.JCudaProbe;
import io.smp4j.examples.cli.CommandLines;
import io.smp4j.examples.resnet.ResNet18Training;
import io.smp4j.pipeline.Stats;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./smp bench gpu}: smp4j on one GPU, every comparison side by side in one run, written to
 * {@code docs/benchmarks-gpu.md} (and {@code .json}):
 * <ol>
 *   <li>overhead: smp4j (1 process) vs a plain DJL Trainer, same model, batch and device (target ratio <= 1.05), with
 *   PyTorch eager on the same GPU beside it;</li>
 *   <li>a 2-stage pipeline whose ranks share the GPU: step time and busy share per rank;</li>
 *   <li>the ResNet18 example: samples/s and busy share with and without the background input pipeline.</li>
 * </ol>
 */
public final class GpuBench {
    /** Batches the example's input pipeline prepares ahead in the benchmark, and its loader threads. */
    static final int EXAMPLE_PREFETCH = 6;

    @Command(name = "bench gpu", description = "The GPU benchmarks (where DJL can use a GPU).")
    static final class Options {
        @Option(names = "--out", paramLabel = "DIR", description = "report folder (default ${DEFAULT-VALUE})")
        Path out = Path.of("docs");
        @Option(names = "--steps", paramLabel = "N", converter = CommandLines.Positive.class,
                description = "timed steps per run (default ${DEFAULT-VALUE})")
        int steps = 20;
        @Option(names = "--python", paramLabel = "EXE", description = "the Python with PyTorch (default ${DEFAULT-VALUE})")
        String python = "python3";
        @Option(names = "--sections", split = ",", paramLabel = "NAME", description = "which sections to run: "
                + "overhead, pipeline, example, host-path, gpt, two-gpu, two-gpu-device (the device-path runs only, "
                + "beside a merged earlier two-gpu; default: all but two-gpu-device; two-gpu needs 2 GPUs)")
        List<String> sections = List.of("overhead", "pipeline", "example", "host-path", "gpt", "two-gpu");
        @Option(names = "--note", paramLabel = "TEXT", description = "a remark printed with the two-GPU section")
        String note = "";
        @Option(names = "--merge", paramLabel = "JSON", converter = CommandLines.Existing.class,
                description = "an earlier run's benchmarks-gpu.json whose sections this run keeps (one report from "
                        + "several calls)")
        Path merge;
        @Option(names = {"-h", "--help"}, usageHelp = true, description = "this help")
        boolean help;
    }

    private GpuBench() {
    }

    public static int main(List<String> args) throws Exception {
        Options o = new Options();
        CommandLines.Parsed parsed = CommandLines.parse(o, args);
        if (parsed.help()) {
            System.out.print(parsed.usage());
            return 0;
        }
        if (!DeviceSelector.gpuUsable()) {
            System.err.println("bench gpu: no GPU usable by DJL here (./smp doctor says why); it runs on GPU hosts");
            return 2;
        }
        BenchSuite b = new BenchSuite(Files.createTempDirectory("smp4j-bench-gpu"), BenchSuite.peerScript(), o.python,
                o.steps, 0);
        long t0 = System.nanoTime();
        JCudaProbe probe = new JCudaProbe();
        if (o.merge != null) {
            JsonObject earlier = JsonParser.parseString(Files.readString(o.merge)).getAsJsonObject();
            for (String k : earlier.keySet()) {
                b.results.put(k, earlier.get(k));
            }
            // The two-GPU section keeps the machine it was measured on (this run may be on another).
            if (earlier.has("two-gpu") && earlier.has("machine")
                    && !earlier.getAsJsonObject("two-gpu").has("machine")) {
                earlier.getAsJsonObject("two-gpu").add("machine", earlier.get("machine"));
            }
        }
        Map<String, Object> machine = BenchSuite.machine();
        machine.put("gpu", probe.use(0).name());
        int gpus = probe.gpus().size();
        machine.put("gpus", gpus);
        if (gpus >= 2) {
            machine.put("peer_access_0_1", probe.canAccessPeer(0, 1));
        }
        b.results.put("machine", machine);
        if (o.sections.contains("overhead")) {
            overhead(b);
        }
        if (o.sections.contains("pipeline")) {
            pipeline(b, o.out);
        }
        if (o.sections.contains("example")) {
            example(b);
        }
        if (o.sections.contains("host-path")) {
            hostPath(b);
        }
        if (o.sections.contains("gpt")) {
            GptGpuSection.run(b);
        }
        if (o.sections.contains("two-gpu") && gpus >= 2) {
            TwoGpuBench.run(b);
        }
        if (o.sections.contains("two-gpu-device") && gpus >= 2) {
            TwoGpuBench.runDevicePaths(b, o.note);
        }
        // Each section says when and on what it was measured: a merged report mixes runs.
        Map<String, Object> measured = new LinkedHashMap<>();
        if (b.results.get("measured") instanceof JsonObject earlier) {
            earlier.keySet().forEach(k -> measured.put(k, earlier.get(k)));
        }
        for (String k : GpuBenchReport.SECTIONS.keySet()) {
            if (o.sections.contains(k) && (!k.equals("two-gpu") || gpus >= 2)) {
                measured.put(k, Map.of("date", machine.get("date"), "gpu", machine.get("gpu")));
            }
        }
        b.results.put("measured", measured);
        b.results.put("suite_minutes", (System.nanoTime() - t0) / 60e9); // this run's
        Files.createDirectories(o.out);
        String json = BenchSuite.GSON.toJson(b.results);
        Files.writeString(o.out.resolve("benchmarks-gpu.json"), json);
        Path md = o.out.resolve("benchmarks-gpu.md");
        String kept = Files.exists(md) ? GpuBenchReport.largeModelSection(Files.readString(md)) : "";
        Files.writeString(md, new GpuBenchReport(JsonParser.parseString(json).getAsJsonObject()).markdown() + kept);
        System.out.println("bench gpu: report " + o.out.resolve("benchmarks-gpu.md"));
        return 0;
    }

    /**
     * The runs of section 1: model, image size, and smp4j's settings (flat parameters, cuDNN benchmark) where they
     * differ from the defaults; each against plain DJL in alternating rounds, in the same process and settings.
     */
    static final String[][] OVERHEAD_RUNS = {
        {"resnet18-224", "resnet18", "224", "true", "true"},
        {"resnet18-224-per-parameter", "resnet18", "224", "false", "true"},
        {"resnet18-224-cudnn-off", "resnet18", "224", "true", "false"},
        {"resnet18-64", "resnet18", "64", "true", "true"},
        {"resnet18-64-per-parameter", "resnet18", "64", "false", "true"},
        {"djl-resnet18-64", "djl-resnet18", "64", "true", "true"},
    };

    /** smp4j vs plain DJL on the GPU (alternating rounds), and PyTorch eager on the same GPU (cuDNN benchmark on). */
    static void overhead(BenchSuite b) throws Exception {
        Map<String, Object> r = new LinkedHashMap<>();
        for (String[] run : OVERHEAD_RUNS) {
            r.put(run[0], b.run(OverheadBench.class.getName(), "overhead-" + run[0], 1, Map.of(), "--model", run[1],
                    "--image-size", run[2], "--batch-size", "64", "--rounds", "5", "--steps",
                    Integer.toString(b.steps), "--flat-parameters", run[3], "--cudnn-benchmark", run[4]));
        }
        for (String[] t : new String[][] {{"224", "true"}, {"64", "true"}, {"224", "false"}}) {
            r.put("pytorch-" + t[0] + ("true".equals(t[1]) ? "" : "-cudnn-off"), b.python("single", "pytorch-single-"
                    + t[0] + "-" + t[1], "--device", "cuda", "--batch-size", "64", "--image-size", t[0], "--steps",
                    Integer.toString(b.steps), "--warmup", "5", "--cudnn-benchmark", t[1]));
        }
        b.results.put("overhead", r);
    }

    /**
     * The host path on one GPU, two ranks sharing it ({@code processes_per_gpu} 2): a stage message taken apart (DJL's
     * copies and the pinned ones), and data parallelism through host memory against the same run through CUDA IPC.
     */
    static void hostPath(BenchSuite b) throws Exception {
        Map<String, Object> r = new LinkedHashMap<>();
        Map<String, String> host = Map.of("SMP_DEVICE_LINK", "host");
        r.put("link", b.run(LinkBench.class.getName(), "host-link", 2, host, "--sizes", "1048576,16777216,67108864",
                "--steps", "10", "--processes-per-gpu", "2"));
        String[] dp = {"--ddp", "true", "--processes-per-gpu", "2", "--image-size", "224", "--batch-size", "64",
            "--warmup", "5"};
        r.put("dp-host", b.train("dp-host", 2, host, dp));
        r.put("dp-communicator", b.train("dp-communicator", 2, Map.of("SMP_DEVICE_LINK", "communicator"), dp));
        r.put("dp-cuda-ipc", b.train("dp-cuda-ipc", 2, Map.of(), dp));
        b.results.put("host-path", r);
    }

    /**
     * One process (M = 1, and M = 4: what microbatching alone costs) vs 2 stages sharing the GPU (processes_per_gpu 2),
     * M = 4 and 8, 224 px, batch 64, after 15 warm-up steps (the JIT). The timed steps run unobserved and whole (an
     * observed step waits for the device between the pipeline and the update, at its end and around the update); 5
     * more steps, observed, give the busy shares and the M = 4 pipeline's timeline (kept beside the report).
     */
    static void pipeline(BenchSuite b, Path out) throws Exception {
        Map<String, Object> r = new LinkedHashMap<>();
        String[] common = {"--image-size", "224", "--batch-size", "64", "--warmup", "15", "--observed-steps", "5"};
        r.put("baseline", b.train("pipeline-1proc", 1, common));
        r.put("one-process-M4", b.train("pipeline-1proc-M4", 1, TwoGpuBench.concat(common, "--microbatches", "4")));
        for (int m : new int[] {4, 8}) {
            Path trace = b.work.resolve("pipeline-M" + m + "-trace.json");
            r.put("interleaved-M" + m, b.train("pipeline-M" + m, 2, TwoGpuBench.concat(common, "--partitions", "2",
                    "--microbatches", Integer.toString(m), "--pipeline", "interleaved", "--optimize", "speed",
                    "--processes-per-gpu", "2", "--trace", trace.toString())));
            if (m == 4) {
                Files.createDirectories(out);
                for (String ext : new String[] {".svg", ".json"}) {
                    Files.copy(b.work.resolve("pipeline-M4-trace" + ext), out.resolve("timeline-gpu-pipeline-M4" + ext),
                            java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
        // PyTorch eager, one process, the same batch whole and in 4 microbatches (gradients accumulated): what the
        // microbatches themselves cost this GPU, with no runtime of ours in between.
        for (int m : new int[] {1, 4}) {
            r.put("pytorch-M" + m, b.python("single", "pytorch-pipeline-M" + m, "--device", "cuda", "--batch-size",
                    "64", "--image-size", "224", "--microbatches", Integer.toString(m), "--steps",
                    Integer.toString(b.steps), "--warmup", "5", "--cudnn-benchmark", "false"));
        }
        b.results.put("pipeline", r);
    }

    /** The example, one process: samples/s and busy share from its own timeline, input pipeline off and on. */
    static void example(BenchSuite b) throws Exception {
        Map<String, Object> r = new LinkedHashMap<>();
        // A batch takes one loader thread about three steps' time to make here (decoding 32 PNGs): at most prefetch + 1
        // are made at once, so 6 keeps the GPU fed with room for jitter.
        for (int prefetch : new int[] {0, EXAMPLE_PREFETCH}) {
            Path metrics = b.work.resolve("example-" + prefetch + ".json");
            Path trace = b.work.resolve("example-" + prefetch + "-trace.json");
            List<String> args = List.of("--partitions", "1", "--batch-size", "32", "--image-size", "64", "--steps",
                    "40", "--generated-images", "640", "--no-eval", "--log-every", "10", "--prefetch",
                    Integer.toString(prefetch), "--loader-threads", Integer.toString(EXAMPLE_PREFETCH), "--trace",
                    trace.toString(), "--trace-steps",
                    "30", "--metrics-json", metrics.toString());
            System.out.println("bench: example, prefetch " + prefetch + " " + args);
            if (BenchSuite.launch(1, 0, ResNet18Training.class.getName(), args, Map.of()) != 0) {
                throw new IllegalStateException("the example failed (prefetch " + prefetch + ")");
            }
            JsonObject m = JsonParser.parseString(Files.readString(metrics)).getAsJsonObject();
            JsonObject row = new JsonObject();
            row.addProperty("prefetch", prefetch);
            row.addProperty("loader_threads", EXAMPLE_PREFETCH);
            row.addProperty("samples_per_second", m.get("samples_per_second").getAsDouble());
            List<Double> ms = new ArrayList<>();
            m.getAsJsonArray("step_time_ms").forEach(e -> ms.add(e.getAsDouble()));
            row.addProperty("median_step_ms", Stats.median(ms.subList(1, ms.size())));
            row.addProperty("busy", busy(trace, 0));
            r.put("prefetch-" + prefetch, row);
        }
        b.results.put("example", r);
    }

    /**
     * A rank's busy share in a Chrome trace: its forward, backward and update time over the span from its first to its
     * last traced interval (the gaps between steps, such as waiting for data, count as idle).
     */
    static double busy(Path trace, int rank) throws Exception {
        JsonArray events = JsonParser.parseString(Files.readString(trace)).getAsJsonObject()
                .getAsJsonArray("traceEvents");
        double busy = 0;
        double first = Double.MAX_VALUE;
        double last = 0;
        for (JsonElement e : events) {
            JsonObject o = e.getAsJsonObject();
            if (!o.get("ph").getAsString().equals("X") || o.get("tid").getAsInt() != rank) {
                continue;
            }
            double ts = o.get("ts").getAsDouble();
            double dur = o.get("dur").getAsDouble();
            first = Math.min(first, ts);
            last = Math.max(last, ts + dur);
            String cat = o.get("cat").getAsString();
            if (cat.equals("forward") || cat.equals("backward") || cat.equals("update")) {
                busy += dur;
            }
        }
        return last > first ? busy / (last - first) : 0;
    }
}
