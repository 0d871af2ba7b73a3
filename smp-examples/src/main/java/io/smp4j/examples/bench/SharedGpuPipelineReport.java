package io.smp4j.examples.bench;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.smp4j.pipeline.Stats;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Section 2 of the GPU report: two pipeline stages sharing one GPU ({@link GpuBench}'s pipeline runs). */
final class SharedGpuPipelineReport extends MarkdownReport {
    private final JsonObject p;

    SharedGpuPipelineReport(JsonObject pipeline, StringBuilder out) {
        super(out);
        this.p = pipeline;
    }

    /** Section 2's target: two stages sharing the GPU at M = 4 at most this many times one process's step. */
    static final double SHARED_PIPELINE_TARGET = 1.3;

    void write() {
        JsonObject base = p.getAsJsonObject("baseline");
        boolean observedApart = base.has("observed-steps") && !"0".equals(base.get("observed-steps").getAsString());
        line("");
        line("## 2. Two pipeline stages sharing the GPU (processes_per_gpu 2; target: M = 4 at most %.1fx one process)",
                SHARED_PIPELINE_TARGET);
        line("");
        line("`resnet18`, 224x224, batch 64. Baseline: 1 process, whole model, M = 1: %.1f ms per step. %s Two "
                + "processes on one GPU share its streaming multiprocessors (time-sliced between their contexts), so "
                + "the best a pipeline can do here is one process's time; what it adds is the runtime's cost: "
                + "launches per microbatch, scheduling, transfers.", d(base, "median_step_ms"), observedApart
                ? "Step: median of the timed steps, which nothing observes (the device is synchronised at each step's "
                + "end only). Busy = a rank's forward + backward time (device time between CUDA events queued with its "
                + "kernels) over the step's pipeline span, median of 5 more steps, observed."
                : "Busy = a rank's forward + backward time per step over the step's wall time (its timeline, device "
                + "synchronised around each action).");
        line("");
        line("| run | M | step (ms) | vs 1 process | vs 1 process, same M | busy rank 0 / 1 | M/(M+P-1) | target |");
        line("|---|---|---|---|---|---|---|---|");
        for (String key : p.keySet()) {
            if (key.equals("baseline") || key.startsWith("pytorch")) {
                continue;
            }
            JsonObject x = p.getAsJsonObject(key);
            int mb = Integer.parseInt(x.get("microbatches").getAsString());
            int stages = Integer.parseInt(x.get("partitions").getAsString());
            double step = d(x, "median_step_ms");
            double ratio = step / d(base, "median_step_ms");
            JsonArray ranks = x.getAsJsonArray("ranks");
            StringBuilder busy = new StringBuilder();
            for (int k = 0; k < ranks.size(); k++) {
                busy.append(k == 0 ? "" : " / ").append(String.format(Locale.ROOT, "%.0f%%",
                        100 * busy(ranks.get(k).getAsJsonObject(), step)));
            }
            JsonObject same = oneProcess(mb);
            double sameRatio = same == null ? Double.NaN : step / d(same, "median_step_ms");
            String verdict = stages == 2 && mb == 4 ? (ratio <= SHARED_PIPELINE_TARGET ? "met" : "missed")
                    + (same == null ? "" : String.format(Locale.ROOT, "; against one process at M = 4 %s",
                    sameRatio <= SHARED_PIPELINE_TARGET ? "met" : "missed")) : "";
            line("| %s | %d | %.1f | %.2fx | %s | %s | %.0f%% | %s |", stages == 1 ? "1 process"
                    : "2 stages, " + x.get("pipeline").getAsString(), mb, step, ratio, same == null || stages == 1 ? ""
                    : String.format(Locale.ROOT, "%.2fx", sameRatio), busy, 100.0 * mb / (mb + stages - 1), verdict);
        }
        pipelinePyTorch(p);
    }

    /** The one-process run at {@code m} microbatches, or null. */
    private JsonObject oneProcess(int m) {
        for (String key : p.keySet()) {
            JsonObject x = p.get(key).isJsonObject() ? p.getAsJsonObject(key) : null;
            if (x != null && !key.startsWith("pytorch") && x.has("partitions") && x.has("microbatches")
                    && "1".equals(x.get("partitions").getAsString())
                    && Integer.toString(m).equals(x.get("microbatches").getAsString())) {
                return x;
            }
        }
        return null;
    }

    /** PyTorch eager's rows of section 2 (one process, whole batch and microbatches), when the run has them. */
    private void pipelinePyTorch(JsonObject p) {
        JsonObject one = p.has("pytorch-M1") ? p.getAsJsonObject("pytorch-M1") : null;
        JsonObject four = p.has("pytorch-M4") ? p.getAsJsonObject("pytorch-M4") : null;
        if (one == null || four == null) {
            return;
        }
        line("");
        if (one.has("error") || four.has("error")) {
            line("PyTorch eager: %s", (one.has("error") ? one : four).get("error").getAsString());
            return;
        }
        double t1 = d(one, "median_step_ms");
        double t4 = d(four, "median_step_ms");
        JsonObject pipe = p.has("interleaved-M4") ? p.getAsJsonObject("interleaved-M4") : null;
        line("PyTorch eager in the same run (one process, cuDNN benchmark off as above): the whole batch %.1f ms, the "
                + "same batch as 4 microbatches of 16 (gradients accumulated) %.1f ms, **%.2fx**: what four small "
                + "microbatches cost this GPU with no runtime between them (the target against one process at M = 1 "
                + "asks a pipeline to undo that cost; against one process at the same M it measures what the pipeline "
                + "adds).%s", t1, t4, t4 / t1, pipe == null ? ""
                : String.format(Locale.ROOT, " smp4j's two stages at M = 4 take %.2fx PyTorch's own M = 4.",
                d(pipe, "median_step_ms") / t4));
    }

    /** A rank's busy share: the median of its per-step shares where measured, else compute over the median step. */
    private static double busy(JsonObject rank, double step) {
        if (rank.has("busy_by_step") && rank.getAsJsonArray("busy_by_step").size() > 0) {
            List<Double> v = new ArrayList<>();
            rank.getAsJsonArray("busy_by_step").forEach(e -> v.add(e.getAsDouble()));
            return Stats.median(v);
        }
        return rank.get("compute_ms_per_step").getAsDouble() / step;
    }
}
