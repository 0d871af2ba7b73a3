package io.smp4j.examples.bench;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.smp4j.examples.gpt.GptTraining;
import io.smp4j.pipeline.Stats;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Section 6 of {@code ./smp bench gpu}: the {@code gpt} example's training step on one process against
 * {@code gpt_reference.py} (the same model in PyTorch eager: layout, initialisation, Adam) in the same run. smp4j in
 * fp32 and fp16 (half-precision copies of fp32 master weights, dynamic loss scaling); PyTorch in fp32 and with autocast
 * to fp16 and bf16. smp4j has no bf16 row: DJL 0.35.1's PyTorch engine has no bfloat16 type (the config refuses it).
 */
final class GptGpuSection {
    /** GPT-2 small's shape (12 blocks, width 768, 12 heads) over byte tokens, 256 per sequence, 8 sequences. */
    static final List<String> MODEL = List.of("--layers", "12", "--hidden", "768", "--heads", "12", "--seq-len", "256",
            "--batch-size", "8");
    /** Steps left out of the median (allocator, cuDNN and JIT warm-up). */
    static final int WARMUP = 5;

    private GptGpuSection() {
    }

    static void run(BenchSuite b) throws Exception {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("model", String.join(" ", MODEL));
        for (String precision : new String[] {"fp32", "fp16"}) {
            r.put("smp4j-" + precision, smp4j(b, precision));
        }
        for (String precision : new String[] {"fp32", "fp16", "bf16"}) {
            r.put("pytorch-" + precision, pytorch(b, precision));
        }
        b.results.put("gpt", r);
    }

    private static JsonObject smp4j(BenchSuite b, String precision) throws Exception {
        Path metrics = b.work.resolve("gpt-" + precision + ".json");
        List<String> args = new ArrayList<>(MODEL);
        args.addAll(List.of("--steps", Integer.toString(WARMUP + b.steps), "--log-every", "5", "--lr", "0.0001",
                "--metrics-json", metrics.toString()));
        if (precision.equals("fp16")) {
            args.add("--fp16");
        }
        System.out.println("bench: gpt " + precision + " " + args);
        int code = BenchSuite.launch(1, 0, GptTraining.class.getName(), args, Map.of());
        JsonObject row = new JsonObject();
        if (code != 0 || !Files.exists(metrics)) {
            row.addProperty("error", "the gpt example failed (exit " + code + ")");
            return row;
        }
        JsonObject m = JsonParser.parseString(Files.readString(metrics)).getAsJsonObject();
        row.addProperty("median_step_ms", medianAfterWarmup(m, "step_ms"));
        if (m.has("queued_ms")) {
            row.addProperty("median_queued_ms", medianAfterWarmup(m, "queued_ms"));
        }
        row.addProperty("parameters", m.get("parameters").getAsLong());
        row.add("losses", m.get("losses"));
        return row;
    }

    /** The median of the per-step values under {@code key}, the warm-up steps left out. */
    private static double medianAfterWarmup(JsonObject metrics, String key) {
        List<Double> v = new ArrayList<>();
        JsonArray all = metrics.getAsJsonArray(key);
        for (int i = WARMUP; i < all.size(); i++) {
            v.add(all.get(i).getAsDouble());
        }
        return Stats.median(v);
    }

    private static JsonElement pytorch(BenchSuite b, String precision) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(b.interpreter,
                BenchSuite.peerScript().resolveSibling("gpt_reference.py").toString()));
        cmd.addAll(MODEL);
        cmd.addAll(List.of("--steps", Integer.toString(b.steps), "--warmup", Integer.toString(WARMUP), "--precision",
                precision));
        System.out.println("bench: gpt " + precision + " (PyTorch) " + cmd);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String last = out.strip().lines().reduce((x, y) -> y).orElse("");
        if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0 || !last.startsWith("{")) {
            JsonObject o = new JsonObject();
            o.addProperty("error", "gpt_reference.py failed: " + last);
            return o;
        }
        return JsonParser.parseString(last);
    }
}
