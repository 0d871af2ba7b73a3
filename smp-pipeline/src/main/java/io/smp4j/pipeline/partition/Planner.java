package io.smp4j.pipeline.partition;

import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import io.smp4j.comm.Communicator;
import io.smp4j.pipeline.model.ModelUnits;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Makes the one partition plan every rank runs: rank 0 of {@code group} measures the units and partitions them
 * (auto, or manual with a default partition), then sends the plan to all; the others only receive it, so their own
 * (different) timings can never lead to a different split.
 */
public final class Planner {
    private Planner() {
    }

    /**
     * How to partition. {@code assignment} null means auto.
     *
     * @param synchronize waits for the device's queued work before the profiler reads a clock (GPU kernels run after
     *                    their launch returns)
     */
    public record Settings(int partitions, double memoryWeight, Map<Integer, Integer> assignment,
                           int defaultPartition, int profileRepeats, long[] memoryLimits, int inflight,
                           Runnable synchronize) {
        public static Settings auto(int partitions, double memoryWeight) {
            return new Settings(partitions, memoryWeight, null, 0, 3, null, 1, () -> { });
        }

        public static Settings manual(int partitions, Map<Integer, Integer> assignment, int defaultPartition) {
            return new Settings(partitions, Double.NaN, assignment, defaultPartition, 3, null, 1, () -> { });
        }

        /** Auto partitioning within each stage's device memory (bytes per stage), {@code inflight} microbatches. */
        public Settings withMemoryLimits(long[] limits, int inflight) {
            return new Settings(partitions, memoryWeight, assignment, defaultPartition, profileRepeats, limits,
                    inflight, synchronize);
        }

        public Settings withSynchronize(Runnable sync) {
            return new Settings(partitions, memoryWeight, assignment, defaultPartition, profileRepeats, memoryLimits,
                    inflight, sync);
        }
    }

    /**
     * Collective over {@code group}: returns the same plan on every rank. A planning error on rank 0 (too few
     * units, bad assignment) is raised on every rank with the same message, before any training work.
     */
    public static PartitionPlan plan(Communicator group, Block model, NDList sample, Settings settings) {
        byte[] message = null;
        if (group.rank() == 0) {
            try {
                List<ModelUnits.Unit> units = ModelUnits.of(model, settings.partitions());
                List<UnitCost> costs = CostProfiler.profile(model, units, sample, settings.profileRepeats(),
                        settings.synchronize());
                PartitionPlan plan = settings.assignment() == null
                        ? settings.memoryLimits() == null
                        ? Partitioner.auto(costs, settings.partitions(), settings.memoryWeight())
                        : Partitioner.auto(costs, settings.partitions(), settings.memoryWeight(),
                        settings.memoryLimits(), settings.inflight())
                        : Partitioner.manual(costs, settings.partitions(), settings.assignment(),
                        settings.defaultPartition());
                message = concat((byte) 1, plan.toBytes());
            } catch (IllegalArgumentException e) {
                message = concat((byte) 0, e.getMessage().getBytes(StandardCharsets.UTF_8));
            }
        }
        byte[] got = group.broadcast(message, 0);
        byte[] body = Arrays.copyOfRange(got, 1, got.length);
        if (got[0] == 0) {
            throw new IllegalArgumentException(new String(body, StandardCharsets.UTF_8));
        }
        return PartitionPlan.fromBytes(body);
    }

    private static byte[] concat(byte head, byte[] body) {
        byte[] out = new byte[body.length + 1];
        out[0] = head;
        System.arraycopy(body, 0, out, 1, body.length);
        return out;
    }
}
