package io.smp4j.examples.bench;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;

/** The GPU report's arithmetic and verdicts, from a hand-made result of the two-GPU section alone. */
class GpuBenchReportTest {
    static String rank(int r, double compute, double step) {
        return "{\"rank\":" + r + ",\"compute_ms_per_step\":" + compute + ",\"median_step_ms\":" + step
                + ",\"gradient_copy_ms\":4.0,\"all_reduce_comm_ms\":20.0,\"send_ms_per_message\":1.5,"
                + "\"recv_ms_per_message\":2.5}";
    }

    static String train(double sps, double step, double c0, double c1, String extra) {
        return "{\"median_step_ms\":" + step + ",\"samples_per_second\":" + sps + ",\"ranks\":[" + rank(0, c0, step)
                + "," + rank(1, c1, step) + "]" + extra + "}";
    }

    @Test
    void twoGpuSectionComputesEfficiencyAndVerdicts() {
        String link = "{\"sizes\":{\"1048576\":{\"device_to_host_ms\":0.5,\"crc32c_ms\":0.1,"
                + "\"communicator_one_way_ms\":1.0,\"host_to_device_ms\":0.4}},\"resnet18_parameters\":100,"
                + "\"all_reduce_bytes\":400,\"all_reduce_algorithm\":\"AUTO\",\"all_reduce_ms\":30.0}";
        String p2p = "{\"nccl_version\":\"(2, 27, 3)\",\"sizes\":{\"1048576\":{\"nccl_send_recv\":0.05}},"
                + "\"local\":{\"1048576\":{\"d2h_pinned\":0.1,\"h2d_pinned\":0.1,\"gpu0_to_gpu1\":0.02}},"
                + "\"nccl_all_reduce_ms\":1.0,\"gloo_host_all_reduce_ms\":25.0}";
        String json = "{\"machine\":{\"date\":\"2026-11-23\",\"gpu\":\"G\",\"gpus\":2,\"peer_access_0_1\":true,"
                + "\"cpu\":\"c\",\"cores\":4,\"java\":\"j\",\"djl\":\"d\",\"mpj\":\"m\"},\"suite_minutes\":1.0,"
                + "\"two-gpu\":{\"single\":" + train(1000, 256, 250, 0, "")
                + ",\"pipeline-M8\":" + train(1500, 170, 140, 150, ",\"microbatches\":\"8\"")
                + ",\"data-parallel\":" + train(1840, 276, 250, 250, "")
                + ",\"pytorch-single\":{\"torch_version\":\"2.11\",\"median_step_ms\":200,\"samples_per_second\":1280}"
                + ",\"pytorch-ddp\":{\"backend\":\"nccl\",\"median_step_ms\":210,\"samples_per_second\":2438,"
                + "\"all_reduce_ms\":1.2},\"link\":" + link + ",\"pytorch-p2p\":" + p2p + "}}";
        JsonObject r = JsonParser.parseString(json).getAsJsonObject();
        String md = new GpuBenchReport(r).markdown();
        // 1840 / (2 x 1000) = 92% >= 90%: met; pipeline busy 140/170 = 82% < 95% of 8/9 (84%): missed.
        assertTrue(md.contains("efficiency 92% >= 90%: met"), md);
        assertTrue(md.contains("| 82% / 88% | >= 84% (95% of 89%): missed |"), md);
        assertTrue(md.contains("efficiency 95% |"), md); // PyTorch: 2438 / 2560
        // Link total 2.0 ms against the best direct path 0.02 ms: 1.98 ms saved, 100x.
        assertTrue(md.contains("**2.00**") && md.contains("1.98 (100x)"), md);
        assertTrue(!md.contains("## 1."), "sections not in the result are left out:\n" + md);
        assertTrue(!md.contains("measured earlier"), md);
        // Merged from another machine: the section names its own.
        JsonObject earlier = r.getAsJsonObject("machine").deepCopy();
        earlier.addProperty("gpu", "H");
        r.getAsJsonObject("two-gpu").add("machine", earlier);
        String merged = new GpuBenchReport(r).markdown();
        assertTrue(merged.contains("Section 4 was measured earlier, on 2 x **H** (c, 4 CPU cores, d) on 2026-11-23"),
                merged);
        assertTrue(merged.contains("**G**"), merged);
    }

    static String overheadRun(String model, int size, boolean flat, boolean cudnn, double djl, double ours) {
        return "{\"model\":\"" + model + "\",\"image-size\":\"" + size + "\",\"batch-size\":\"64\","
                + "\"flat-parameters\":\"" + flat + "\",\"cudnn-benchmark\":\"" + cudnn + "\","
                + "\"plain_djl_median_ms\":" + djl + ",\"smp4j_median_ms\":" + ours
                + ",\"plain_djl_queued_median_ms\":1.0,\"smp4j_queued_median_ms\":2.0}";
    }

    /** Section 1: each run against PyTorch of the same size and cuDNN setting; the targets judge the default runs. */
    @Test
    void oneGpuSectionComparesWithPyTorchOfTheSameSizeAndSetting() {
        String torch = "{\"torch_version\":\"2.11\",\"device_name\":\"G\",\"median_step_ms\":";
        String json = "{\"machine\":{\"date\":\"2026-12-06\",\"gpu\":\"G\",\"gpus\":1,\"cpu\":\"c\","
                + "\"cores\":4,\"java\":\"j\",\"djl\":\"d\",\"mpj\":\"m\"},\"suite_minutes\":1.0,"
                + "\"overhead\":{\"resnet18-224\":" + overheadRun("resnet18", 224, true, true, 17.0, 15.0)
                + ",\"resnet18-224-per-parameter\":" + overheadRun("resnet18", 224, false, true, 17.0, 18.0)
                + ",\"resnet18-224-cudnn-off\":" + overheadRun("resnet18", 224, true, false, 20.0, 19.0)
                + ",\"resnet18-64\":" + overheadRun("resnet18", 64, true, true, 20.0, 13.0)
                + ",\"djl-resnet18-64\":" + overheadRun("djl-resnet18", 64, true, true, 20.0, 12.0)
                + ",\"pytorch-224\":" + torch + "15.0},\"pytorch-64\":" + torch + "10.0}"
                + ",\"pytorch-224-cudnn-off\":" + torch + "16.0}}}";
        String md = new GpuBenchReport(JsonParser.parseString(json).getAsJsonObject()).markdown();
        // 15 / 15 = 1.00 <= 1.00: met; 13 / 10 = 1.30 <= 1.4: met; the per-parameter and cuDNN-off rows are not judged.
        assertTrue(md.contains("| resnet18 | 224x224 | 64 | flat | on | 15.00 | 17.00 | 15.00 | **1.00** | met (<= 1.0)"
                + " | 0.882 |"), md);
        assertTrue(md.contains("| resnet18 | 224x224 | 64 | per parameter | on | 15.00 | 17.00 | 18.00 | **1.20** |  |"),
                md);
        assertTrue(md.contains("| resnet18 | 224x224 | 64 | flat | off | 16.00 | 20.00 | 19.00 | **1.19** |  |"), md);
        assertTrue(md.contains("| resnet18 | 64x64 | 64 | flat | on | 10.00 | 20.00 | 13.00 | **1.30** | met (<= 1.4)"),
                md);
        assertTrue(md.contains("| djl-resnet18 | 64x64 | 64 | flat | on |  | 20.00 | 12.00 |  |  | 0.600 |"), md);
    }

    /** Section 6: smp4j's gpt step against PyTorch's per precision; bf16 has no smp4j row, a failed run says why. */
    @Test
    void gptSectionComparesPerPrecisionAndKeepsTheLargeModelSectionLast() {
        String json = "{\"machine\":{\"date\":\"2026-12-07\",\"gpu\":\"G\",\"gpus\":1,\"cpu\":\"c\","
                + "\"cores\":4,\"java\":\"j\",\"djl\":\"d\",\"mpj\":\"m\"},\"suite_minutes\":1.0,"
                + "\"gpt\":{\"model\":\"--layers 12\",\"smp4j-fp32\":{\"median_step_ms\":60.0,"
                + "\"median_queued_ms\":55.0},"
                + "\"smp4j-fp16\":{\"error\":\"the gpt example failed (exit 1)\"},"
                + "\"pytorch-fp32\":{\"median_step_ms\":50.0},\"pytorch-fp16\":{\"median_step_ms\":40.0},"
                + "\"pytorch-bf16\":{\"median_step_ms\":41.0}}}";
        String md = new GpuBenchReport(JsonParser.parseString(json).getAsJsonObject()).markdown();
        assertTrue(md.contains("| fp32 | 50.0 | 60.0 | **1.20** | 55.0 |"), md);
        assertTrue(md.contains("| fp16 | 40.0 | the gpt example failed (exit 1) |  |"), md);
        assertTrue(md.contains("| bf16 | 41.0 | not available (no bfloat16 in DJL 0.35.1) |  |"), md);
        // Which sections this run measured, which came from earlier runs (merged), and when.
        JsonObject r = JsonParser.parseString(json).getAsJsonObject();
        assertTrue(md.contains("This run (1.0 minutes) measured sections none. Merged from earlier runs (`--merge`): "
                + "section 6 in an earlier run."), md);
        r.add("measured", JsonParser.parseString("{\"gpt\":{\"date\":\"2026-12-07\",\"gpu\":\"G\"}}"));
        assertTrue(new GpuBenchReport(r).markdown().contains("This run (1.0 minutes) measured section 6.\n"), md);
        r.add("measured", JsonParser.parseString("{\"gpt\":{\"date\":\"2026-12-05T10:00Z\",\"gpu\":\"H\"}}"));
        String merged = new GpuBenchReport(r).markdown();
        assertTrue(merged.contains("measured sections none. Merged from earlier runs (`--merge`): section 6 on "
                + "2026-12-05 (H)."), merged);
        // An older report's large-model section, under its old number, comes back under the new one.
        String kept = GpuBenchReport.largeModelSection("# r\n\n## 5. Large models: memory\n\nrows\n");
        assertTrue(kept.equals("\n## 7. Large models: memory\n\nrows\n"), kept);
        assertTrue(GpuBenchReport.largeModelSection("# r\n\n## 5. The host path\n").isEmpty());
    }

    /** Section 2: each run against one process at M = 1; busy shares from the observed steps; M = 4's verdict. */
    @Test
    void sharedGpuPipelineSectionJudgesTwoStagesAtM4() {
        String rank = "{\"compute_ms_per_step\":9.0,\"busy_by_step\":[0.5,0.7,0.6]}";
        String run = "{\"microbatches\":\"%d\",\"partitions\":\"%d\",\"pipeline\":\"interleaved\","
                + "\"observed-steps\":\"5\",\"median_step_ms\":%s,\"ranks\":[%s]}";
        String json = "{\"machine\":{\"date\":\"2026-12-07\",\"gpu\":\"G\",\"gpus\":1,\"cpu\":\"c\","
                + "\"cores\":4,\"java\":\"j\",\"djl\":\"d\",\"mpj\":\"m\"},\"suite_minutes\":1.0,\"pipeline\":{"
                + "\"baseline\":" + String.format(run, 1, 1, "10.0", rank)
                + ",\"one-process-M4\":" + String.format(run, 4, 1, "12.0", rank)
                + ",\"interleaved-M4\":" + String.format(run, 4, 2, "14.0", rank + "," + rank)
                + ",\"interleaved-M8\":" + String.format(run, 8, 2, "20.0", rank + "," + rank)
                + ",\"pytorch-M1\":{\"median_step_ms\":8.0},\"pytorch-M4\":{\"median_step_ms\":12.5}}}";
        String md = new GpuBenchReport(JsonParser.parseString(json).getAsJsonObject()).markdown();
        assertTrue(md.contains("| 1 process | 4 | 12.0 | 1.20x |  | 60% | 100% |  |"), md);
        // 14 / 10 over 1.3x one process at M = 1; 14 / 12 = 1.17x one process at M = 4, within it.
        assertTrue(md.contains("| 2 stages, interleaved | 4 | 14.0 | 1.40x | 1.17x | 60% / 60% | 80% | missed; "
                + "against one process at M = 4 met |"), md);
        assertTrue(md.contains("| 2 stages, interleaved | 8 | 20.0 | 2.00x |  | 60% / 60% | 89% |  |"), md);
        assertTrue(md.contains("which nothing observes"), md);
        // PyTorch's rows are no runs of ours: not in the table, but the sentence after it (12.5 / 8 = 1.56x; 14 / 12.5).
        assertTrue(!md.contains("| 1 process | 1 |"), md);
        assertTrue(md.contains("the whole batch 8.0 ms, the same batch as 4 microbatches of 16 (gradients accumulated) "
                + "12.5 ms, **1.56x**"), md);
        assertTrue(md.contains("smp4j's two stages at M = 4 take 1.12x PyTorch's own M = 4."), md);
    }
}
