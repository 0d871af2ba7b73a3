package io.smp4j.examples.bench;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The two-GPU section of {@code ./smp bench gpu} (one process per GPU), side by side in one run: the torchvision-layout
 * ResNet18 at 224 px, 256 images per GPU, on 1 GPU, as a 2-stage pipeline (global batch 256) and as 2 data-parallel
 * replicas (256 each), through smp4j's device paths (CUDA IPC) and through host memory; PyTorch eager and DDP over
 * NCCL on the same GPUs; and the transfer between the GPUs taken apart ({@link LinkBench}: device -> host ->
 * communicator -> host -> device, the CUDA IPC link, the gradients' all-reduce both ways) next to what PyTorch's
 * peer-to-peer copy, NCCL send/recv and NCCL all-reduce take for the same bytes.
 */
final class TwoGpuBench {
    static final int BATCH = 256;
    static final String SIZES = "1048576,4194304,16777216,67108864";

    private TwoGpuBench() {
    }

    static void run(BenchSuite b) throws Exception {
        Map<String, Object> r = new LinkedHashMap<>();
        String batch = Integer.toString(BATCH);
        String[] common = {"--model", "resnet18", "--image-size", "224", "--batch-size", batch, "--warmup", "5"};
        r.put("single", b.train("two-single", 1, common));
        for (int m : new int[] {8, 16}) {
            r.put("pipeline-M" + m, b.train("two-pipeline-M" + m, 2, concat(common, "--partitions", "2",
                    "--microbatches", Integer.toString(m), "--pipeline", "interleaved", "--optimize", "speed")));
        }
        r.put("data-parallel", b.train("two-dp", 2, concat(common, "--partitions", "1", "--ddp", "true")));
        // The same through the communicator (smp.device.link=communicator, the path between hosts): what the device
        // paths save, measured.
        Map<String, String> host = Map.of("SMP_DEVICE_LINK", "communicator");
        r.put("host-pipeline-M8", b.train("two-host-pipeline-M8", 2, host, concat(common, "--partitions", "2",
                "--microbatches", "8", "--pipeline", "interleaved", "--optimize", "speed")));
        r.put("host-data-parallel", b.train("two-host-dp", 2, host, concat(common, "--partitions", "1", "--ddp",
                "true")));
        String steps = Integer.toString(b.steps);
        r.put("pytorch-single", b.python("single", "two-torch-single", "--device", "cuda", "--batch-size", batch,
                "--image-size", "224", "--steps", steps, "--warmup", "5"));
        r.put("pytorch-ddp", b.python("ddp", "two-torch-ddp", "--device", "cuda", "--nproc", "2", "--batch-size",
                batch, "--image-size", "224", "--steps", steps, "--warmup", "5"));
        JsonObject link = b.run(LinkBench.class.getName(), "two-link", 2, Map.of(), "--sizes", SIZES, "--steps", "10");
        r.put("link", link);
        JsonElement p2p = b.python("p2p", "two-torch-p2p", "--sizes", SIZES, "--allreduce-bytes",
                link.get("all_reduce_bytes").getAsString());
        r.put("pytorch-p2p", p2p);
        b.results.put("two-gpu", r);
    }

    /**
     * Only the runs that use the device paths (CUDA IPC): the pipeline at M=8, the data-parallel replicas and the link
     * bench, beside an earlier run's results (merged with {@code --merge}), whose pipeline and data-parallel rows went
     * through host memory and are kept as such. For a session whose device time did not allow the whole section twice.
     */
    static void runDevicePaths(BenchSuite b, String note) throws Exception {
        Map<String, Object> r = new LinkedHashMap<>();
        Object earlier = b.results.get("two-gpu");
        if (earlier instanceof JsonObject e) {
            for (String k : e.keySet()) {
                boolean hostRun = k.startsWith("pipeline-") || k.equals("data-parallel");
                r.put(hostRun ? "host-" + k : k, e.get(k));
            }
        }
        String[] common = {"--model", "resnet18", "--image-size", "224", "--batch-size", Integer.toString(BATCH),
            "--warmup", "5"};
        r.put("single", b.train("two-single", 1, common)); // the baseline of this machine
        r.put("pipeline-M8", b.train("two-pipeline-M8", 2, concat(common, "--partitions", "2", "--microbatches", "8",
                "--pipeline", "interleaved", "--optimize", "speed")));
        r.put("data-parallel", b.train("two-dp", 2, concat(common, "--partitions", "1", "--ddp", "true")));
        r.put("link", b.run(LinkBench.class.getName(), "two-link", 2, Map.of(), "--sizes", SIZES, "--steps", "10"));
        r.put("note", note);
        b.results.put("two-gpu", r);
    }

    static String[] concat(String[] a, String... more) {
        String[] out = new String[a.length + more.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(more, 0, out, a.length, more.length);
        return out;
    }
}
