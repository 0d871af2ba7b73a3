package io.smp4j.core;

import io.smp4j.comm.Communicator;
import io.smp4j.comm.Topology;
import io.smp4j.pipeline.Stats;
import io.smp4j.pipeline.exec.ComputeClock;
import io.smp4j.pipeline.partition.Repartition;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The re-partitioner's measurements: per measured step, this rank's milliseconds per chunk (forward + backward, forward
 * alone, the optimizer update); at a check, their medians gathered from every rank into each global stage's times (the
 * mean over its replicas, the same on every rank).
 */
final class StageTimes {
    /** One measured step of this rank, per chunk. */
    private record Step(double[] total, double[] forward, double[] update) {
    }

    private final List<Step> steps = new ArrayList<>();

    /** Adds a measured step: the executor's clock sample, and the update's time (counted in chunk 0's place). */
    void add(ComputeClock.Sample sample, double updateMillis) {
        int n = sample.total().length;
        double[] total = new double[n];
        double[] forward = new double[n];
        double[] update = new double[n];
        for (int c = 0; c < n; c++) {
            total[c] = sample.total()[c] / 1e6;
            forward[c] = sample.forward()[c] / 1e6;
        }
        update[0] = updateMillis;
        steps.add(new Step(total, forward, update));
    }

    boolean isEmpty() {
        return steps.isEmpty();
    }

    /** Steps measured since the last check. */
    int size() {
        return steps.size();
    }

    /** Collective over {@code world}: every global stage's median times, then forgets the steps. */
    Repartition.Measured gather(Communicator world, Topology topology, int ppSize) {
        int n = steps.get(0).total().length;
        double[][] mine = new double[3][n];
        for (int c = 0; c < n; c++) {
            final int chunk = c;
            mine[0][c] = Stats.median(steps.stream().map(s -> s.total()[chunk]).toList());
            mine[1][c] = Stats.median(steps.stream().map(s -> s.forward()[chunk]).toList());
            mine[2][c] = Stats.median(steps.stream().map(s -> s.update()[chunk]).toList());
        }
        steps.clear();
        ByteBuffer b = ByteBuffer.allocate(8 * 3 * n);
        for (double[] quantity : mine) {
            for (double x : quantity) {
                b.putDouble(x);
            }
        }
        byte[][] all = world.allGather(b.array());
        double[][] sum = new double[3][ppSize * n];
        int[] count = new int[ppSize * n];
        for (int r = 0; r < all.length; r++) {
            ByteBuffer in = ByteBuffer.wrap(all[r]);
            for (double[] quantity : sum) {
                for (int c = 0; c < n; c++) {
                    quantity[c * ppSize + topology.ppRank(r)] += in.getDouble();
                }
            }
            for (int c = 0; c < n; c++) {
                count[c * ppSize + topology.ppRank(r)]++;
            }
        }
        for (double[] quantity : sum) {
            for (int g = 0; g < quantity.length; g++) {
                quantity[g] /= Math.max(1, count[g]);
            }
        }
        return new Repartition.Measured(sum[0], sum[1], sum[2]);
    }
}
