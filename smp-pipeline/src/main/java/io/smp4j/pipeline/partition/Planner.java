package io.smp4j.pipeline.partition;

import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import io.smp4j.comm.Communicator;
import io.smp4j.pipeline.model.ModelUnits;
import io.smp4j.pipeline.wire.TensorCodec;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
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
                           Runnable synchronize, List<String> unitNames, boolean delayed, double stateFactor) {
        /** Timed sweeps over the units (after the warm-up ones); each unit's time is their median. */
        static final int REPEATS = 5;

        public static Settings auto(int partitions, double memoryWeight) {
            return new Settings(partitions, memoryWeight, null, 0, REPEATS, null, 1, () -> { }, null, false,
                    Partitioner.DEFAULT_STATE_FACTOR);
        }

        public static Settings manual(int partitions, Map<Integer, Integer> assignment, int defaultPartition) {
            return new Settings(partitions, Double.NaN, assignment, defaultPartition, REPEATS, null, 1, () -> { },
                    null, false, Partitioner.DEFAULT_STATE_FACTOR);
        }

        /** Auto partitioning within each stage's device memory (bytes per stage), {@code inflight} microbatches. */
        public Settings withMemoryLimits(long[] limits, int inflight) {
            return new Settings(partitions, memoryWeight, assignment, defaultPartition, profileRepeats, limits,
                    inflight, synchronize, unitNames, delayed, stateFactor);
        }

        public Settings withSynchronize(Runnable sync) {
            return new Settings(partitions, memoryWeight, assignment, defaultPartition, profileRepeats, memoryLimits,
                    inflight, sync, unitNames, delayed, stateFactor);
        }

        /**
         * The model is not initialised (delayed initialisation): units are profiled one at a time, each materialised
         * and released ({@link CostProfiler#measureDelayed}).
         */
        public Settings withDelayed(boolean on) {
            return new Settings(partitions, memoryWeight, assignment, defaultPartition, profileRepeats, memoryLimits,
                    inflight, synchronize, unitNames, on, stateFactor);
        }

        /**
         * Bytes a stage holds per byte of its parameters under memory limits: weights, gradients and the optimizer's
         * state ({@link Partitioner#stageBytes}; 3 for SGD with momentum, 4 for Adam).
         */
        public Settings withStateFactor(double factor) {
            return new Settings(partitions, memoryWeight, assignment, defaultPartition, profileRepeats, memoryLimits,
                    inflight, synchronize, unitNames, delayed, factor);
        }

        /** Timed repeats: none where nothing is to be balanced (one stage, no memory limits). */
        int repeats() {
            return partitions == 1 && memoryLimits == null ? 0 : profileRepeats;
        }

        CostProfiler.Profile profile(Block model, List<ModelUnits.Unit> units, NDList sample) {
            return delayed ? CostProfiler.measureDelayed(units, sample, repeats(), synchronize)
                    : CostProfiler.measure(model, units, sample, repeats(), synchronize);
        }

        /**
         * Units by name ({@link ModelUnits#resolve}) instead of the model's top-level ones: what a saved plan used
         * ({@link PartitionPlan#unitNames()}); the assignment's indices refer to them.
         */
        public Settings withUnits(List<String> names) {
            return new Settings(partitions, memoryWeight, assignment, defaultPartition, profileRepeats, memoryLimits,
                    inflight, synchronize, names == null ? null : List.copyOf(names), delayed, stateFactor);
        }
    }

    /**
     * The units of an automatic plan: the model's top-level units, then, for up to {@link #REFINE_ROUNDS} rounds, every
     * unit whose cost (time and memory as the plan weighs them) exceeds 1/(8P) of the model's split as far as it goes
     * ({@link ModelUnits#splitFully}) and measured again: a unit that large limits how evenly P stages can be cut.
     *
     * @return the units and their costs
     */
    static Map.Entry<List<ModelUnits.Unit>, CostProfiler.Profile> refine(Block model, List<ModelUnits.Unit> units,
                                                                          CostProfiler.Profile profile, NDList sample,
                                                                          Settings settings) {
        double weight = Double.isNaN(settings.memoryWeight()) ? 0 : settings.memoryWeight();
        for (int round = 0; round < REFINE_ROUNDS; round++) {
            double[] share = Partitioner.combinedCosts(profile.costs(), weight);
            double limit = 1.0 / (8 * settings.partitions());
            List<ModelUnits.Unit> finer = new ArrayList<>();
            for (int i = 0; i < units.size(); i++) {
                finer.addAll(share[i] > limit ? ModelUnits.splitFully(units.get(i)) : List.of(units.get(i)));
            }
            if (finer.size() == units.size()) {
                break;
            }
            try {
                profile = settings.profile(model, finer, sample);
                units = finer;
            } catch (IllegalArgumentException e) {
                LOG.debug("finer units do not run ({}); keeping {} units", e.getMessage(), units.size());
                break;
            }
        }
        return Map.entry(units, profile);
    }

    /** Rounds of {@link #refine}: splitting goes all the way down at once, so one usually suffices. */
    static final int REFINE_ROUNDS = 2;

    /**
     * A plan and what profiling learnt of the model's data flow, the same on every rank.
     *
     * @param plan   the plan
     * @param inputs per unit of the plan, the types and shapes of its input on the sample microbatch (what a rank
     *               that never ran a unit needs to materialise it: delayed initialisation, units that move)
     * @param output the model's output on the sample microbatch
     */
    public record Planned(PartitionPlan plan, List<TensorCodec.Header> inputs, TensorCodec.Header output) {
    }

    /** {@link #planned}'s plan. */
    public static PartitionPlan plan(Communicator group, Block model, NDList sample, Settings settings) {
        return planned(group, model, sample, settings).plan();
    }

    /**
     * Collective over {@code group}: returns the same plan on every rank. A planning error on rank 0 (too few
     * units, bad assignment, a model too large for the memory limits) is raised on every rank with the same message,
     * before any training work.
     */
    public static Planned planned(Communicator group, Block model, NDList sample, Settings settings) {
        byte[] message = null;
        if (group.rank() == 0) {
            try {
                List<ModelUnits.Unit> units = settings.unitNames() != null
                        ? ModelUnits.resolve(model, settings.unitNames()) : ModelUnits.of(model, settings.partitions());
                CostProfiler.Profile profile = settings.profile(model, units, sample);
                if (settings.assignment() == null && settings.unitNames() == null) {
                    profile = refine(model, units, profile, sample, settings).getValue();
                }
                List<UnitCost> costs = profile.costs();
                PartitionPlan plan = settings.assignment() == null
                        ? settings.memoryLimits() == null
                        ? Partitioner.auto(costs, settings.partitions(), settings.memoryWeight())
                        : Partitioner.auto(costs, settings.partitions(), settings.memoryWeight(),
                        settings.memoryLimits(), settings.inflight(), settings.stateFactor())
                        : Partitioner.manual(costs, settings.partitions(), settings.assignment(),
                        settings.defaultPartition());
                message = concat((byte) 1, encode(plan, profile));
            } catch (IllegalArgumentException e) {
                message = concat((byte) 0, e.getMessage().getBytes(StandardCharsets.UTF_8));
            }
        }
        byte[] got = group.broadcast(message, 0);
        byte[] body = Arrays.copyOfRange(got, 1, got.length);
        if (got[0] == 0) {
            throw new IllegalArgumentException(new String(body, StandardCharsets.UTF_8));
        }
        return decode(body);
    }

    private static byte[] encode(PartitionPlan plan, CostProfiler.Profile profile) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            byte[] p = plan.toBytes();
            out.writeInt(p.length);
            out.write(p);
            out.writeInt(profile.inputs().size());
            for (TensorCodec.Header h : profile.inputs()) {
                h.write(out);
            }
            profile.output().write(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    private static Planned decode(byte[] body) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(body))) {
            byte[] p = new byte[in.readInt()];
            in.readFully(p);
            int n = in.readInt();
            List<TensorCodec.Header> inputs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                inputs.add(TensorCodec.Header.read(in));
            }
            return new Planned(PartitionPlan.fromBytes(p), inputs, TensorCodec.Header.read(in));
        } catch (IOException e) {
            throw new UncheckedIOException("the plan arrived unreadable", e);
        }
    }

    private static byte[] concat(byte head, byte[] body) {
        byte[] out = new byte[body.length + 1];
        out[0] = head;
        System.arraycopy(body, 0, out, 1, body.length);
        return out;
    }
}
