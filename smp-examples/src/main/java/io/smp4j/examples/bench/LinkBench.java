package io.smp4j.examples.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import com.google.gson.GsonBuilder;
import ai.djl.ndarray.NDList;
import io.smp4j.comm.CommRequest;
import io.smp4j.comm.Communicator;
import io.smp4j.comm.ReduceOp;
import io.smp4j.core.Smp;
import io.smp4j.core.SmpConfig;
import io.smp4j.core.device.PeerAllReduce;
import io.smp4j.core.device.PeerLink;
import io.smp4j.core.device.PeerMemory;
import io.smp4j.examples.cli.CommandLines;
import io.smp4j.pipeline.Stats;
import io.smp4j.pipeline.djl.DjlInternals;
import io.smp4j.pipeline.exec.HostStaging;
import io.smp4j.pipeline.model.Parameters;
import io.smp4j.pipeline.wire.TensorCodec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Rank program (2 ranks, each on its own device) that takes a stage link apart: for each message size, the phases a
 * tensor passes between two GPUs in smp4j (device -> host copy, CRC32C, the communicator one way, host -> device
 * copy), each timed alone with the device synchronised; and the data-parallel all-reduce of a ResNet18's gradients
 * (torchvision layout, 10 classes) over the world communicator, in host memory. Where the two GPUs reach each other
 * (one host, CUDA IPC), the same through smp4j's device paths: the stage link one way and the all-reduce on the GPUs.
 * Rank 0 writes JSON to {@code --out}.
 */
final class LinkBench {
    @Command(name = "linkbench", description = "Stage link and all-reduce phases between two ranks.")
    static final class Options {
        @Option(names = "--sizes", split = ",", paramLabel = "BYTES", description = "message sizes")
        List<Integer> sizes = List.of(1 << 20, 4 << 20, 16 << 20, 64 << 20);
        @Option(names = "--steps", converter = CommandLines.Positive.class, description = "timed runs of each phase")
        int iterations = 10;
        @Option(names = "--processes-per-gpu", converter = CommandLines.Positive.class,
                description = "processes_per_gpu (2: both ranks on one GPU)")
        int processesPerGpu = 1;
        @Option(names = "--out", paramLabel = "FILE")
        String out = "";
        @Option(names = {"-h", "--help"}, usageHelp = true)
        boolean help;
    }

    private LinkBench() {
    }

    /** One timed operation. */
    interface Op {
        void run() throws Exception;
    }

    public static void main(String[] args) throws Exception {
        Options o = CommandLines.parseOrExit(new Options(), args, "linkbench");
        try (Smp smp = Smp.init(SmpConfig.builder().partitions(1).ddp(true)
                .processesPerGpu(o.processesPerGpu).build());
             NDManager m = NDManager.newBaseManager(smp.device())) {
            if (smp.size() != 2) {
                throw new IllegalArgumentException("linkbench runs on 2 ranks, not " + smp.size());
            }
            Communicator world = smp.world();
            // The stage link's device path between the two GPUs, where they reach each other (CUDA IPC).
            // The stage link's path between the two GPUs where they map each other's buffers: CUDA IPC, or pinned host
            // memory (smp.device.link=host, or no IPC between them).
            PeerMemory kind = smp.deviceResources().peers().path(0, 1);
            boolean reach = kind == PeerMemory.CUDA_IPC;
            String peerKey = reach ? "cuda_ipc" : "pinned_host";
            PeerLink ipc = kind != null ? new PeerLink(world, smp.deviceSelection().gpu().index(), p -> true, kind)
                    : null;
            Map<String, Object> sizes = new LinkedHashMap<>();
            for (int bytes : o.sizes) {
                int n = bytes / 4;
                Map<String, Object> row = new LinkedHashMap<>();
                try (NDManager scope = m.newSubManager()) {
                    NDArray a = scope.ones(new Shape(n));
                    byte[] host = new byte[n * 4];
                    ByteBuffer direct = ByteBuffer.allocateDirect(n * 4).order(ByteOrder.LITTLE_ENDIAN);
                    row.put("device_to_host_ms", time(smp, o.iterations, () -> {
                        DjlInternals.copyToHost(a, ByteBuffer.wrap(host));
                    }));
                    row.put("crc32c_ms", time(smp, o.iterations, () -> TensorCodec.crc32c(host, 0, host.length)));
                    // One way = half a round trip: rank 0 sends, rank 1 answers with the same bytes.
                    double rtt = time(smp, o.iterations, () -> {
                        if (smp.rank() == 0) {
                            world.send(host, 0, host.length, 1, 7);
                            world.recv(host, 0, host.length, 1, 8);
                        } else {
                            world.recv(host, 0, host.length, 0, 7);
                            world.send(host, 0, host.length, 0, 8);
                        }
                    });
                    row.put("communicator_one_way_ms", rtt / 2);
                    HostStaging pinned = smp.deviceResources().hostStaging();
                    if (pinned != null) {
                        // What the stage link's host path does on a GPU: through reused page-locked buffers.
                        row.put("device_to_host_pinned_ms", time(smp, o.iterations, () -> pinned.toHost(a, host, 0)));
                        row.put("host_to_device_pinned_ms", time(smp, o.iterations, () -> {
                            try (NDManager t = scope.newSubManager()) {
                                pinned.toDevice(t, host, 0, new Shape(n), DataType.FLOAT32);
                                smp.synchronize();
                            }
                        }));
                    }
                    row.put("host_to_device_ms", time(smp, o.iterations, () -> {
                        try (NDManager t = scope.newSubManager()) {
                            direct.clear();
                            direct.put(host).flip();
                            DjlInternals.fromHost(t, direct, new Shape(n), DataType.FLOAT32);
                            smp.synchronize();
                        }
                    }));
                }
                if (ipc != null) {
                    row.put(peerKey + "_one_way_ms", ipcOneWay(smp, ipc, m, n, o.iterations, bytes));
                }
                sizes.put(Integer.toString(bytes), row);
            }
            Block net = ResNets.build("resnet18", 224, 10);
            net.initialize(m, DataType.FLOAT32, new Shape(1, 3, 224, 224));
            long params = 0;
            for (Parameter p : Parameters.of(net)) {
                params += p.getArray().size();
            }
            float[] grads = new float[Math.toIntExact(params)];
            double allReduce = time(smp, o.iterations, () -> world.allReduce(grads, ReduceOp.SUM));
            double ipcAllReduce = -1;
            PeerAllReduce onGpus = smp.deviceResources().gradientAllReduce(m);
            if (onGpus != null) {
                List<NDArray> like = new ArrayList<>();
                for (Parameter p : Parameters.of(net)) {
                    like.add(m.ones(p.getArray().getShape()));
                }
                ipcAllReduce = time(smp, o.iterations, () -> onGpus.average(like));
            }
            if (ipc != null) {
                ipc.unmap();
                world.barrier();
                ipc.free();
            }
            if (smp.rank() == 0 && !o.out.isEmpty()) {
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("device", smp.device().toString());
                // AUTO: shared memory between processes of one host from AUTO_SHM_MIN_FLOATS floats, else the ring.
                r.put("all_reduce_algorithm", world.options().allReduce().toString());
                r.put("sizes", sizes);
                r.put("resnet18_parameters", params);
                r.put("all_reduce_bytes", params * 4);
                r.put("all_reduce_ms", allReduce);
                r.put("cuda_ipc", reach);
                r.put(peerKey + "_all_reduce_ms", ipcAllReduce);
                r.put("peer_path", kind == null ? "communicator" : kind.describe());
                Files.writeString(Path.of(o.out), new GsonBuilder().setPrettyPrinting().create().toJson(r));
            }
        }
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }

    /** Half the round trip of one array of {@code n} floats through the peer stage link, ms. */
    static double ipcOneWay(Smp smp, PeerLink link, NDManager m, int n, int iterations, int slot)
            throws Exception {
        try (NDManager scope = m.newSubManager()) {
            NDList a = new NDList(scope.ones(new Shape(n)));
            return time(smp, iterations, () -> {
                try (NDManager step = scope.newSubManager()) {
                    List<CommRequest> pending = new ArrayList<>();
                    if (smp.rank() == 0) {
                        link.send(a, 1, slot, 11, 12, pending);
                        link.recv(step, 1, slot, 13, 14);
                    } else {
                        NDList got = link.recv(step, 0, slot, 11, 12);
                        link.send(got, 0, slot, 13, 14, pending);
                    }
                    CommRequest.awaitAll(pending);
                }
            }) / 2;
        }
    }

    /** Median milliseconds of {@code op} over {@code n} runs after 2 warm-ups, both ranks starting together. */
    static double time(Smp smp, int n, Op op) throws Exception {
        List<Double> ms = new ArrayList<>();
        for (int i = 0; i < n + 2; i++) {
            smp.synchronize();
            smp.barrier();
            long t0 = System.nanoTime();
            op.run();
            smp.synchronize();
            if (i >= 2) {
                ms.add((System.nanoTime() - t0) / 1e6);
            }
        }
        return Stats.median(ms);
    }
}
