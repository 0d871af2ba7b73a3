package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import io.smp4j.core.device.DeviceSelector;
import io.smp4j.core.device.Gpu;
import io.smp4j.core.device.GpuProbe;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Rank program of the bad-input catalogue: on 2 real processes, every rank runs every case (collective ones
 * together) and prints {@code BAD <case> rank=<r> <message>}; nothing trains.
 */
public final class BadInputMain {
    /** Step targets with unusable signatures. */
    public static final class Steps {
        @Step
        public NDArray good(DistributedModel model, NDList x) {
            return model.forward(x).head();
        }

        @Step
        public NDArray train(DistributedModel model, NDList x) {
            return model.forward(x).head();
        }

        public NDArray notAnnotated(DistributedModel model, NDList x) {
            return null;
        }

        @Step
        public NDArray noModel(NDList x) {
            return null;
        }

        @Step
        public String badReturn(DistributedModel model, NDList x) {
            return "";
        }
    }

    private BadInputMain() {
    }

    interface Case {
        void run() throws Exception;
    }

    public static void main(String[] args) {
        int code = 0;
        SmpConfig cfg = SmpConfig.builder().partitions(2).microbatches(2).autoPartition(false).build();
        try (Smp smp = Smp.init(cfg); NDManager m = NDManager.newBaseManager()) {
            Map<String, Case> cases = new LinkedHashMap<>();
            cases.put("json-malformed", () -> SmpConfig.fromJson("{\"partitions\": 2,"));
            cases.put("json-not-object", () -> SmpConfig.fromJson("[2]"));
            cases.put("key-typo", () -> SmpConfig.fromJson("{\"microbatch\": 4}"));
            cases.put("key-unsupported", () -> SmpConfig.fromJson("{\"tensor_parallel_degree\": 2}"));
            cases.put("type-partitions", () -> SmpConfig.fromJson("{\"partitions\": \"two\"}"));
            cases.put("range-partitions", () -> SmpConfig.fromJson("{\"partitions\": 0}"));
            cases.put("range-microbatches", () -> SmpConfig.fromJson("{\"microbatches\": -1}"));
            cases.put("value-pipeline", () -> SmpConfig.fromJson("{\"pipeline\": \"gpipe\"}"));
            cases.put("value-optimize", () -> SmpConfig.fromJson("{\"optimize\": \"fast\"}"));
            cases.put("range-memory-weight", () -> SmpConfig.fromJson("{\"memory_weight\": 1.5}"));
            cases.put("value-placement", () -> SmpConfig.fromJson("{\"placement_strategy\": \"XYZ\"}"));
            cases.put("type-ddp", () -> SmpConfig.fromJson("{\"ddp\": \"yes\"}"));
            cases.put("range-active-microbatches", () -> SmpConfig.fromJson("{\"active_microbatches\": 0}"));
            cases.put("type-mpi", () -> SmpConfig.fromJson("{\"mpi\": {\"processes_per_host\": \"four\"}}"));
            cases.put("layout-not-multiple", () -> Smp.validate(SmpConfig.builder().partitions(3).build(), 2, 2));
            cases.put("layout-needs-ddp", () -> Smp.validate(SmpConfig.builder().partitions(1).build(), 2, 2));
            cases.put("layout-processes-per-host", () -> Smp.validate(SmpConfig.builder().partitions(2)
                    .processesPerHost(4).build(), 2, 2));
            cases.put("gpus-per-host", () -> DeviceSelector.select(0, 4, twoGpus(), "auto"));
            cases.put("device-value", () -> DeviceSelector.select(0, 2, twoGpus(), "tpu"));
            DistributedModel dm = new DistributedModel(smp, mlp(m), m);
            NDList x = new NDList(m.ones(new Shape(4, 8)));
            Steps t = new Steps();
            cases.put("step-not-annotated", () -> smp.step(t, "notAnnotated", dm, x));
            cases.put("step-no-model", () -> smp.step(t, "noModel", x));
            cases.put("step-return-type", () -> smp.step(t, "badReturn", dm, x));
            cases.put("step-argument-type", () -> smp.step(t, "good", dm, "x"));
            cases.put("step-argument-count", () -> smp.step(t, "good", dm, x, x));
            cases.put("step-unknown-method", () -> smp.step(t, "trian", dm, x));
            cases.put("batch-not-divisible", () -> smp.step(t, "good", dm, new NDList(m.ones(new Shape(5, 8)))));
            cases.put("partition-too-few-units", () -> new DistributedModel(smp, oneUnit(m), m)
                    .partition(new NDList(m.ones(new Shape(2, 8)))));
            cases.put("partition-out-of-range", () -> new DistributedModel(smp, mlp(m), m).place(1, 5)
                    .partition(new NDList(m.ones(new Shape(2, 8)))));
            cases.put("partition-order", () -> new DistributedModel(smp, mlp(m), m).place(0, 1).place(2, 0)
                    .partition(new NDList(m.ones(new Shape(2, 8)))));
            cases.put("partition-shared-microbatches", () -> new DistributedModel(smp, mlp(m), m)
                    .placeByPlan(null, new int[] {0, 2, 3}, new int[] {0, 1, 0})
                    .partition(new NDList(m.ones(new Shape(2, 8)))));
            cases.put("partition-shared-statistics", () -> new DistributedModel(smp, withBatchNorm(m), m)
                    .placeByPlan(null, new int[] {0, 2, 3}, new int[] {0, 1, 0})
                    .partition(new NDList(m.ones(new Shape(2, 8)))));
            Path empty = Path.of(args[0]);
            DistributedModel ready = new DistributedModel(smp, mlp(m), m).place(2, 1);
            ready.partition(new NDList(m.ones(new Shape(2, 8))));
            cases.put("checkpoint-none", () -> Checkpoints.loadLatest(ready, empty));
            cases.put("checkpoint-incomplete", () -> Checkpoints.load(ready, empty));
            for (Map.Entry<String, Case> c : cases.entrySet()) {
                String msg;
                try {
                    c.getValue().run();
                    msg = "NO ERROR";
                } catch (IllegalArgumentException | IllegalStateException e) {
                    msg = e.getMessage();
                }
                System.out.println("BAD " + c.getKey() + " rank=" + smp.rank() + " " + msg.replace('\n', ' '));
            }
        } catch (Exception e) {
            e.printStackTrace(System.out);
            code = 1;
        }
        System.out.flush();
        Runtime.getRuntime().halt(code);
    }

    static Block mlp(NDManager m) {
        Block b = new SequentialBlock().add(Linear.builder().setUnits(6).build())
                .add(Linear.builder().setUnits(5).build()).add(Linear.builder().setUnits(3).build());
        b.initialize(m, DataType.FLOAT32, new Shape(2, 8));
        return b;
    }

    static Block withBatchNorm(NDManager m) {
        Block b = new SequentialBlock().add(Linear.builder().setUnits(6).build())
                .add(ai.djl.nn.norm.BatchNorm.builder().build()).add(Linear.builder().setUnits(3).build());
        b.initialize(m, DataType.FLOAT32, new Shape(2, 8));
        return b;
    }

    static Block oneUnit(NDManager m) {
        Block b = new SequentialBlock().add(Linear.builder().setUnits(3).build());
        b.initialize(m, DataType.FLOAT32, new Shape(2, 8));
        return b;
    }

    static GpuProbe twoGpus() {
        return new GpuProbe() {
            @Override
            public List<Gpu> gpus() {
                List<Gpu> g = new ArrayList<>();
                g.add(new Gpu(0, "Fake", 1L << 34, -1));
                g.add(new Gpu(1, "Fake", 1L << 34, -1));
                return g;
            }

            @Override
            public Gpu use(int index) {
                return new Gpu(index, "Fake", 1L << 34, 1L << 33);
            }

            @Override
            public boolean canAccessPeer(int device, int peer) {
                return true;
            }
        };
    }
}
