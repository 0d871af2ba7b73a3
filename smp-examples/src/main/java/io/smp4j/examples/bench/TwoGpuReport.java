package io.smp4j.examples.bench;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.util.Locale;

/** Section 4 of the GPU report: {@link TwoGpuBench}'s results. */
final class TwoGpuReport extends MarkdownReport {
    private final JsonObject t;
    private final JsonObject machine;

    TwoGpuReport(JsonObject twoGpu, JsonObject machine, StringBuilder out) {
        super(out);
        this.t = twoGpu;
        this.machine = machine;
    }



    private static double busy(JsonObject run, int rank) {
        JsonArray ranks = run.getAsJsonArray("ranks");
        return ranks.get(rank).getAsJsonObject().get("compute_ms_per_step").getAsDouble() / d(run, "median_step_ms");
    }

    private static double rank(JsonObject run, int rank, String key) {
        return run.getAsJsonArray("ranks").get(rank).getAsJsonObject().get(key).getAsDouble();
    }

    /** How a run's tensors went between the GPUs: forced through host memory, or CUDA IPC where the GPUs allow it. */
    private String path(String key) {
        if (key.startsWith("host-")) {
            return "through host memory";
        }
        JsonObject link = t.getAsJsonObject("link");
        boolean ipc = link != null && link.has("cuda_ipc") && link.get("cuda_ipc").getAsBoolean();
        return ipc ? "CUDA IPC" : "through host memory (no CUDA IPC here)";
    }

    private void pipelineRow(String k, double one) {
        JsonObject p = t.getAsJsonObject(k);
        int m = Integer.parseInt(p.get("microbatches").getAsString());
        double ideal = (double) m / (m + 1);
        double b0 = busy(p, 0);
        double b1 = busy(p, 1);
        line("| smp4j pipeline, 2 stages, interleaved, M=%d (global batch %d), %s | %.1f | %.0f | %.2fx | %.0f%% / "
                + "%.0f%% | >= %.0f%% (95%% of %.0f%%): %s |", m, TwoGpuBench.BATCH, path(k), d(p, "median_step_ms"),
                d(p, "samples_per_second"), d(p, "samples_per_second") / one, 100 * b0, 100 * b1, 95 * ideal,
                100 * ideal, Math.min(b0, b1) >= 0.95 * ideal ? "met" : "missed");
    }

    void write() {
        JsonObject single = t.getAsJsonObject("single");
        double one = d(single, "samples_per_second");
        line("");
        line("## 4. Two GPUs, one process each (targets: data-parallel efficiency >= 90%%, pipeline busy >= 95%% of "
                + "M/(M+P-1))");
        line("");
        line("`resnet18` (torchvision layout, 10 classes), 224x224, %d images per GPU, SGD with momentum, on %d GPUs "
                + "(peer access between them: %s). Busy = a rank's forward + backward time over the step (its "
                + "timeline, device synchronised around each action); efficiency = samples/s on 2 GPUs / (2 x 1 GPU).",
                TwoGpuBench.BATCH, machine.get("gpus").getAsInt(), machine.has("peer_access_0_1")
                        ? machine.get("peer_access_0_1").getAsString() : "not asked");
        if (t.has("note") && !t.get("note").getAsString().isEmpty()) {
            line("");
            line("%s", t.get("note").getAsString());
        }
        line("");
        line("| run | step (ms) | samples/s | vs 1 GPU | busy rank 0 / 1 | target |");
        line("|---|---|---|---|---|---|");
        line("| smp4j, 1 GPU | %.1f | %.0f | 1.00x | %.0f%% | |", d(single, "median_step_ms"), one,
                100 * busy(single, 0));
        for (String k : t.keySet()) {
            if (k.contains("pipeline-")) {
                pipelineRow(k, one);
            }
        }
        for (String k : new String[] {"data-parallel", "host-data-parallel"}) {
            if (t.has(k)) {
                JsonObject dp = t.getAsJsonObject(k);
                double eff = d(dp, "samples_per_second") / (2 * one);
                line("| smp4j data parallel, 2 replicas, %s | %.1f | %.0f | %.2fx | %.0f%% / %.0f%% | efficiency "
                        + "%.0f%% >= 90%%: %s |", path(k), d(dp, "median_step_ms"), d(dp, "samples_per_second"),
                        d(dp, "samples_per_second") / one, 100 * busy(dp, 0), 100 * busy(dp, 1), 100 * eff,
                        eff >= 0.9 ? "met" : "missed");
            }
        }
        JsonObject dp = t.getAsJsonObject("data-parallel");
        JsonObject ts = t.getAsJsonObject("pytorch-single");
        JsonObject td = t.getAsJsonObject("pytorch-ddp");
        if (!ts.has("error") && !td.has("error")) {
            double teff = d(td, "samples_per_second") / (2 * d(ts, "samples_per_second"));
            line("| PyTorch %s eager, 1 GPU | %.1f | %.0f | | | |", ts.get("torch_version").getAsString(),
                    d(ts, "median_step_ms"), d(ts, "samples_per_second"));
            line("| PyTorch DDP (%s), 2 GPUs | %.1f | %.0f | %.2fx | | efficiency %.0f%% |",
                    td.get("backend").getAsString(), d(td, "median_step_ms"), d(td, "samples_per_second"),
                    d(td, "samples_per_second") / d(ts, "samples_per_second"), 100 * teff);
        } else {
            line("");
            line("PyTorch: %s %s", ts.has("error") ? ts.get("error").getAsString() : "",
                    td.has("error") ? td.get("error").getAsString() : "");
        }
        line("");
        JsonObject hostDp = t.has("host-data-parallel") ? t.getAsJsonObject("host-data-parallel") : dp;
        line("Where a data-parallel step's time goes (rank 0, medians per step). Through host memory: gradients "
                + "device -> host and back %.1f ms, the all-reduce in host memory %.1f ms, of a %.1f ms step. CUDA IPC: "
                + "packing and unpacking on the GPU %.1f ms, barriers and summing the peers' buffers %.1f ms, of a "
                + "%.1f ms step.%s", rank(hostDp, 0, "gradient_copy_ms"), rank(hostDp, 0, "all_reduce_comm_ms"),
                d(hostDp, "median_step_ms"), rank(dp, 0, "gradient_copy_ms"), rank(dp, 0, "all_reduce_comm_ms"),
                d(dp, "median_step_ms"),
                td.has("all_reduce_ms") ? String.format(Locale.ROOT, " PyTorch DDP's NCCL all-reduce of the same "
                        + "gradients as one flat tensor: %.2f ms (and DDP overlaps it with the backward pass).",
                        d(td, "all_reduce_ms")) : "");
        for (String k : t.keySet()) {
            if (k.contains("pipeline-")) {
                JsonObject p = t.getAsJsonObject(k);
                line("");
                line("%s (%s): stage 0 sends an activation in %.2f ms and receives a gradient in %.2f ms; stage 1 "
                        + "receives an activation in %.2f ms and sends a gradient in %.2f ms (per message; a receive "
                        + "includes waiting for the peer).", k, path(k), rank(p, 0, "send_ms_per_message"),
                        rank(p, 0, "recv_ms_per_message"), rank(p, 1, "recv_ms_per_message"),
                        rank(p, 1, "send_ms_per_message"));
            }
        }
        transfers();
    }

    private void transfers() {
        JsonObject link = t.getAsJsonObject("link");
        JsonObject p2p = t.getAsJsonObject("pytorch-p2p");
        boolean torch = !p2p.has("error");
        line("");
        line("### Between the two GPUs: one message taken apart (ms, medians)");
        line("");
        line("smp4j's stage link: device -> host copy, CRC32C, the communicator one way (half a round trip, MPJ "
                + "Express), host -> device copy, each timed alone. PyTorch on the same GPUs: pinned-memory copies, "
                + "GPU 0 -> GPU 1 directly, NCCL send/recv (half a round trip).");
        line("");
        line("| bytes | smp4j D->H | CRC32C | comm one way | H->D | smp4j total | smp4j CUDA IPC | PyTorch D->H / "
                + "H->D pinned | GPU0->GPU1 copy | NCCL send/recv | host path over the best direct one |");
        line("|---|---|---|---|---|---|---|---|---|---|---|");
        JsonObject sizes = link.getAsJsonObject("sizes");
        for (String size : sizes.keySet()) {
            JsonObject x = sizes.getAsJsonObject(size);
            double total = d(x, "device_to_host_ms") + d(x, "crc32c_ms") + d(x, "communicator_one_way_ms")
                    + d(x, "host_to_device_ms");
            String peer = "n/a";
            String nccl = "n/a";
            String pinned = "n/a";
            String saved = "n/a";
            if (torch) {
                JsonObject local = p2p.getAsJsonObject("local").getAsJsonObject(size);
                double direct = d(local, "gpu0_to_gpu1");
                double sr = d(p2p.getAsJsonObject("sizes").getAsJsonObject(size), "nccl_send_recv");
                peer = String.format(Locale.ROOT, "%.3f", direct);
                nccl = String.format(Locale.ROOT, "%.3f", sr);
                pinned = String.format(Locale.ROOT, "%.3f / %.3f", d(local, "d2h_pinned"), d(local, "h2d_pinned"));
                saved = String.format(Locale.ROOT, "%.2f (%.0fx)", total - Math.min(direct, sr),
                        total / Math.min(direct, sr));
            }
            String ipc = x.has("cuda_ipc_one_way_ms") ? String.format(Locale.ROOT, "**%.3f**",
                    d(x, "cuda_ipc_one_way_ms")) : "n/a";
            line("| %.0f MB | %.2f | %.2f | %.2f | %.2f | **%.2f** | %s | %s | %s | %s | %s |",
                    Long.parseLong(size) / 1048576.0, d(x, "device_to_host_ms"), d(x, "crc32c_ms"),
                    d(x, "communicator_one_way_ms"), d(x, "host_to_device_ms"), total, ipc, pinned, peer, nccl, saved);
        }
        line("");
        line("Gradients of the whole model (%d floats, %.1f MB): smp4j's all-reduce in host memory (%s) %.2f ms; "
                + "smp4j on the GPUs (CUDA IPC, packing and unpacking included) %s%s",
                link.get("resnet18_parameters").getAsLong(), d(link, "all_reduce_bytes") / 1048576.0,
                link.get("all_reduce_algorithm").getAsString(), d(link, "all_reduce_ms"),
                link.has("cuda_ipc_all_reduce_ms") && d(link, "cuda_ipc_all_reduce_ms") >= 0
                        ? String.format(Locale.ROOT, "%.2f ms", d(link, "cuda_ipc_all_reduce_ms")) : "n/a",
                torch ? String.format(Locale.ROOT, "; gloo in host memory %.2f ms; NCCL on the GPUs %.2f ms (NCCL %s).",
                        d(p2p, "gloo_host_all_reduce_ms"), d(p2p, "nccl_all_reduce_ms"),
                        p2p.get("nccl_version").getAsString()) : ".");
    }
}
