package io.smp4j.pipeline.partition;

import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import io.smp4j.comm.Communicator;
import io.smp4j.pipeline.model.ModelUnits;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes the one partition plan every rank runs: rank 0 of {@code group} measures the units and partitions them
 * (auto, or manual with a default partition), then sends the plan to all; the others only receive it, so their own
 * (different) timings can never lead to a different split.
 */
public final class Planner {
    private static final Logger LOG = LoggerFactory.getLogger(Planner.class);

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
                           Runnable synchronize, List<String> unitNames) {
        /** Timed sweeps over the units (after the warm-up ones); each unit's time is their median. */
        static final int REPEATS = 5;

        public static Settings auto(int partitions, double memoryWeight) {
            return new Settings(partitions, memoryWeight, null, 0, REPEATS, null, 1, () -> { }, null);
        }

        public static Settings manual(int partitions, Map<Integer, Integer> assignment, int defaultPartition) {
            return new Settings(partitions, Double.NaN, assignment, defaultPartition, REPEATS, null, 1, () -> { },
                    null);
        }

        /** Auto partitioning within each stage's device memory (bytes per stage), {@code inflight} microbatches. */
        public Settings withMemoryLimits(long[] limits, int inflight) {
            return new Settings(partitions, memoryWeight, assignment, defaultPartition, profileRepeats, limits,
                    inflight, synchronize, unitNames);
        }

        public Settings withSynchronize(Runnable sync) {
            return new Settings(partitions, memoryWeight, assignment, defaultPartition, profileRepeats, memoryLimits,
                    inflight, sync, unitNames);
        }

        /**
         * Units by name ({@link ModelUnits#resolve}) instead of the model's top-level ones: what a saved plan used
         * ({@link PartitionPlan#unitNames()}); the assignment's indices refer to them.
         */
        public Settings withUnits(List<String> names) {
            return new Settings(partitions, memoryWeight, assignment, defaultPartition, profileRepeats, memoryLimits,
                    inflight, synchronize, names == null ? null : List.copyOf(names));
        }
    }

    /**
     * The units of an automatic plan: the model's top-level units, then, for up to {@link #REFINE_ROUNDS} rounds, every
     * unit whose cost (time and memory as the plan weighs them) exceeds 1/(8P) of the model's split as far as it goes
     * ({@link ModelUnits#splitFully}) and measured again: a unit that large limits how evenly P stages can be cut.
     *
     * @return the units and their costs
     */
    static Map.Entry<List<ModelUnits.Unit>, List<UnitCost>> refine(Block model, List<ModelUnits.Unit> units,
                                                                    List<UnitCost> costs, NDList sample,
                                                                    Settings settings) {
        double weight = Double.isNaN(settings.memoryWeight()) ? 0 : settings.memoryWeight();
        for (int round = 0; round < REFINE_ROUNDS; round++) {
            double[] share = Partitioner.combinedCosts(costs, weight);
            double limit = 1.0 / (8 * settings.partitions());
            List<ModelUnits.Unit> finer = new ArrayList<>();
            for (int i = 0; i < units.size(); i++) {
                finer.addAll(share[i] > limit ? ModelUnits.splitFully(units.get(i)) : List.of(units.get(i)));
            }
            if (finer.size() == units.size()) {
                break;
            }
            try {
                costs = CostProfiler.profile(model, finer, sample, settings.profileRepeats(), settings.synchronize());
                units = finer;
            } catch (IllegalArgumentException e) {
                LOG.debug("finer units do not run ({}); keeping {} units", e.getMessage(), units.size());
                break;
            }
        }
        return Map.entry(units, costs);
    }

    /** Rounds of {@link #refine}: splitting goes all the way down at once, so one usually suffices. */
    static final int REFINE_ROUNDS = 2;

    /**
     * Collective over {@code group}: returns the same plan on every rank. A planning error on rank 0 (too few
     * units, bad assignment) is raised on every rank with the same message, before any training work.
     */
    public static PartitionPlan plan(Communicator group, Block model, NDList sample, Settings settings) {
        byte[] message = null;
        if (group.rank() == 0) {
            try {
                List<ModelUnits.Unit> units = settings.unitNames() != null
                        ? ModelUnits.resolve(model, settings.unitNames()) : ModelUnits.of(model, settings.partitions());
                List<UnitCost> costs = CostProfiler.profile(model, units, sample, settings.profileRepeats(),
                        settings.synchronize());
                if (settings.assignment() == null && settings.unitNames() == null) {
                    costs = refine(model, units, costs, sample, settings).getValue();
                }
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
