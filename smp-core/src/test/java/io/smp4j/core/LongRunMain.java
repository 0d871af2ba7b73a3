package io.smp4j.core;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.smp4j.comm.ReduceOp;
import io.smp4j.core.device.JCudaProbe;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * Rank program of the long-run test: the MLP at partitions 2 x data parallel 2 (auto partitioning, interleaved,
 * SGD, eval step every 100 steps, a StepOutput per step) for N steps. Every 250 steps each rank prints its resident
 * memory, open file descriptors, threads and median step time: {@code LONG rank=R step=S rss_kb=.. fds=.. threads=..
 * step_ms=..}.
 */
public final class LongRunMain {
    private LongRunMain() {
    }

    static long status(String key) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(key)) {
                return Long.parseLong(line.replaceAll("\\D+", ""));
            }
        }
        return -1;
    }

    static long count(String dir) throws Exception {
        try (var l = Files.list(Path.of(dir))) {
            return l.count();
        }
    }

    public static void main(String[] args) {
        int steps = Integer.parseInt(args[0]);
        int every = Math.min(250, steps / 8); // a report line every this many steps
        SmpConfig cfg = SmpConfig.builder().partitions(2).microbatches(2).ddp(true)
                .processesPerGpu(args.length > 1 ? Integer.parseInt(args[1]) : 1).build();
        int code = 0;
        try (Smp smp = Smp.init(cfg); NDManager m = NDManager.newBaseManager(smp.device())) {
            HybridMain.Trainer t = new HybridMain.Trainer();
            DistributedModel dm = new DistributedModel(smp, HybridMain.build("mlp", m, 2), m);
            DistributedOptimizer opt = new DistributedOptimizer(dm, HybridMain.sgd());
            double[] window = new double[every];
            for (int s = 1; s <= steps; s++) {
                long t0 = System.nanoTime();
                try (NDManager scope = m.newSubManager()) {
                    NDList[] b = CheckpointMain.slice(smp, scope, s % 50);
                    if (s % 100 == 0) {
                        dm.eval();
                        smp.step(t, "evalStep", dm, b[0], b[1]);
                        dm.train();
                    }
                    StepOutput out = smp.step(t, "trainStep", dm, b[0], b[1]);
                    opt.step();
                    float[] loss = {out.reduceMean().getFloat()};
                    smp.dataParallelGroup().allReduce(loss, ReduceOp.AVERAGE);
                }
                window[(s - 1) % every] = (System.nanoTime() - t0) / 1e6;
                if (s % every == 0) {
                    double[] w = window.clone();
                    Arrays.sort(w);
                    java.lang.management.BufferPoolMXBean direct = java.lang.management.ManagementFactory
                            .getPlatformMXBeans(java.lang.management.BufferPoolMXBean.class).stream()
                            .filter(b -> b.getName().equals("direct")).findFirst().orElseThrow();
                    System.out.printf(Locale.ROOT, "LONG rank=%d step=%d rss_kb=%d fds=%d threads=%d step_ms=%.3f "
                                    + "arrays=%d direct_buffers=%d%n", smp.rank(), s, status("VmRSS:"),
                            count("/proc/self/fd"), count("/proc/self/task"), w[w.length / 2],
                            m.getManagedArrays().size(), direct.getCount());
                    if (smp.deviceSelection().gpu() != null) {
                        // The device's free memory (cudaMemGetInfo through JCuda), all its processes together.
                        System.out.printf(Locale.ROOT, "GPUMEM rank=%d step=%d free_mb=%d%n", smp.rank(), s,
                                new JCudaProbe().use(smp.deviceSelection().gpu().index()).freeBytes() >> 20);
                    }
                }
            }
        } catch (Exception e) {
            e.printStackTrace(System.out);
            code = 1;
        }
        System.out.flush();
        Runtime.getRuntime().halt(code);
    }
}
