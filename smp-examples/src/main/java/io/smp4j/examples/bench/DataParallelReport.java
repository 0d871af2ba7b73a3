package io.smp4j.examples.bench;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.Locale;

/**
 * Section 3 of the benchmark report: data parallelism against PyTorch DDP, with the gradient all-reduce overlapped
 * with backward (smp4j's default) and as one all-reduce after backward, side by side.
 */
final class DataParallelReport {
    private DataParallelReport() {
    }

    /** The largest value of {@code key} over a run's ranks. */
    private static double max(JsonObject run, String key) {
        double m = 0;
        for (JsonElement e : run.getAsJsonArray("ranks")) {
            m = Math.max(m, e.getAsJsonObject().get(key).getAsDouble());
        }
        return m;
    }

    /** The smallest value of {@code key} over a run's ranks. */
    private static double min(JsonObject run, String key) {
        double m = Double.MAX_VALUE;
        for (JsonElement e : run.getAsJsonArray("ranks")) {
            m = Math.min(m, e.getAsJsonObject().get(key).getAsDouble());
        }
        return m;
    }


    /** Collects the section's lines. */
    private static final class Lines extends MarkdownReport {
    }

    /** The section's Markdown, from the suite's {@code data_parallel} results. */
    static String markdown(JsonObject dp) {
        Lines out = new Lines();
        write(out, dp);
        return out.s.toString();
    }

    private static void write(Lines out, JsonObject dp) {
        out.line("");
        out.line("## 3. Data parallel vs PyTorch DDP (targets: samples/s ratio >= 1.0; all-reduce hidden behind "
                + "backward >= 50%%)");
        out.line("");
        JsonObject ours = dp.getAsJsonObject("smp4j");
        JsonObject flat = dp.has("smp4j_after_backward") ? dp.getAsJsonObject("smp4j_after_backward") : null;
        JsonObject torch = dp.getAsJsonObject("pytorch");
        out.line("2 processes x 1 thread, `resnet18` / torchvision `resnet18(num_classes=10)`, 3x64x64, batch 32 per "
                + "process (global 64), partitions 1, ddp, shared-memory all-reduce on one host. smp4j overlapped "
                + "(the default, `overlap_allreduce`): the backward runs in segments of at least `bucket_cap_mb` "
                + "(4 MB) of parameters, and each segment's gradients are averaged on a communication thread while "
                + "the earlier segments' backward runs. smp4j after backward: `overlap_allreduce` false, one "
                + "all-reduce of all gradients once backward is done. PyTorch %s: DistributedDataParallel, gloo "
                + "(25 MB buckets, overlapped with backward through autograd hooks).",
                torch.has("torch_version") ? torch.get("torch_version").getAsString() : "(unavailable)");
        out.line("");
        out.line("| | step (ms) | samples/s | all-reduce (ms per step) | waited for after backward (ms) | hidden |");
        out.line("|---|---|---|---|---|---|");
        out.line("| smp4j overlapped | %.0f | %.1f | %.1f on the communication thread, %.0f buckets | %.1f | "
                + "**%.0f%%** (lowest rank) |", MarkdownReport.d(ours, "median_step_ms"), MarkdownReport.d(ours, "samples_per_second"),
                max(ours, "overlapped_all_reduce_ms"), max(ours, "buckets"), max(ours, "all_reduce_comm_ms"),
                100 * min(ours, "hidden_fraction"));
        if (flat != null) {
            out.line("| smp4j after backward | %.0f | %.1f | %.1f (gradient copies %.1f) | %.1f | 0%% |",
                    MarkdownReport.d(flat, "median_step_ms"), MarkdownReport.d(flat, "samples_per_second"), max(flat, "all_reduce_comm_ms"),
                    max(flat, "gradient_copy_ms"), max(flat, "all_reduce_comm_ms"));
        }
        if (torch.has("error")) {
            out.line("");
            out.line("PyTorch side unavailable: %s", torch.get("error").getAsString());
            return;
        }
        out.line("| PyTorch DDP gloo | %.0f | %.1f | %.1f (one flat all_reduce of %.2f M floats, timed apart) | | |",
                MarkdownReport.d(torch, "median_step_ms"), MarkdownReport.d(torch, "samples_per_second"), MarkdownReport.d(torch, "all_reduce_ms"),
                MarkdownReport.d(torch, "parameters") / 1e6);
        out.line("");
        out.line("Hidden = 1 - (time the training thread waited for the all-reduce after backward) / (time the "
                + "communication thread spent in it), per step; the wait includes waiting for the other replica to "
                + "finish its backward, so it is an upper bound of the exposed communication.");
        double ratio = MarkdownReport.d(ours, "samples_per_second") / MarkdownReport.d(torch, "samples_per_second");
        out.line("");
        out.line("Ratio smp4j / PyTorch: **%.2f** (%s).%s", ratio, ratio >= 1.0 ? "target met" : "target missed",
                flat == null ? "" : String.format(Locale.ROOT, " Overlapped against after backward: "
                        + "%.2fx the samples/s.", MarkdownReport.d(ours, "samples_per_second") / MarkdownReport.d(flat, "samples_per_second")));
    }
}
