package io.smp4j.core;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.training.optimizer.Optimizer;
import io.smp4j.comm.ReduceOp;
import io.smp4j.core.stage.LentUnits;
import io.smp4j.core.stage.StageBuilder;
import io.smp4j.core.stage.StageContext;
import io.smp4j.pipeline.exec.ComputeClock;
import io.smp4j.pipeline.exec.PipelineExecutor;
import io.smp4j.pipeline.model.ModelUnits;
import io.smp4j.pipeline.partition.Confirmation;
import io.smp4j.pipeline.partition.PartitionPlan;
import io.smp4j.pipeline.partition.Repartition;
import io.smp4j.pipeline.schedule.Schedule;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A distributed model's re-partitioning from measured stage times ({@code repartition_steps},
 * {@code repartition_threshold}): when to check; the parts it calls measure ({@link StageTimes}), decide
 * ({@link Repartition}, {@link Confirmation}), move the units ({@link StageMove}) and rebuild the rank's stage
 * ({@link StageBuilder#assemble}, shared with partitioning).
 */
final class Repartitioner {
    private static final Logger LOG = LoggerFactory.getLogger(Repartitioner.class);
    /** Most plan changes in one run: measured times are noisy, and a plan must not flap. */
    static final int MAX_REPARTITIONS = 3;
    /**
     * After a check that keeps the plan the next one comes twice as many steps later, up to this many times
     * {@code repartition_steps}: a plan kept on a noisy window (JIT compilation, another process) is checked again
     * later, and a run whose stage times drift is still re-balanced.
     */
    static final int MAX_WINDOW_FACTOR = 32;
    /**
     * A check measures at most the last this many times {@code repartition_steps} steps of its window: measuring
     * synchronises the device around each forward and backward, which a GPU run should not pay on every step.
     */
    static final int MEASURED_FACTOR = 2;

    /** The groups, layout and settings the measuring, deciding and moving use. */
    private final StageContext ctx;
    /** The schedule training steps run (what a plan's step time is estimated on). */
    private final Schedule schedule;
    /** repartition_threshold: how much better a plan must be. */
    private final double threshold;
    private final Block block;
    private final NDManager manager;
    /** The partitioning in force. */
    private StageBuilder.Result current;
    /** The steps measured since the last check. */
    private final StageTimes measured = new StageTimes();
    private int stepsSinceCheck;
    private int repartitions;
    /** repartition_steps (at least 1): the first window, and the window after each change. */
    private final int baseWindow;
    private final int repartitionSteps;
    /** Steps from one check to the next: baseWindow after a change, doubling after each check that keeps the plan. */
    private int window;
    /** Whether the next step is the first under a new plan (not measured: it pays for first calls). */
    private boolean freshPlan = true;
    /** Two checks in a row must find a better plan (with the same slowest stage) before the plan changes. */
    private final Confirmation confirmation = new Confirmation();

    /**
     * For the model {@code block} on {@code manager}, partitioned as {@code partitioned} (it measures from now on).
     *
     * @param repartitionSteps repartition_steps (0: never)
     * @param threshold        repartition_threshold
     */
    Repartitioner(StageContext ctx, Schedule schedule, int repartitionSteps, double threshold, Block block,
                  NDManager manager, StageBuilder.Result partitioned) {
        this.ctx = ctx;
        this.schedule = schedule;
        this.threshold = threshold;
        this.block = block;
        this.manager = manager;
        this.current = partitioned;
        this.repartitionSteps = repartitionSteps;
        this.baseWindow = Math.max(1, repartitionSteps);
        this.window = baseWindow;
        current.executor().computeClock().setMeasuring(adjustable());
    }

    /** The partitioning in force: the one given, or the last re-partitioning's. */
    StageBuilder.Result current() {
        return current;
    }

    /** Whether the plan may change from measured times: auto_partition, repartition_steps > 0, several stages. */
    private boolean adjustable() {
        return ctx.settings().autoPartition() && repartitionSteps > 0 && ctx.ppSize() > 1
                && repartitions < MAX_REPARTITIONS;
    }

    /**
     * After each optimizer update (collective over the world; then use {@link #current()}): while the
     * plan may still change, counts this stage's measured forward + backward time; after {@code repartition_steps}
     * steps (the first after a plan change not counted: it pays for first calls) every rank gathers the stage times,
     * and when a plan from them beats the current one by more than {@code repartition_threshold} in two checks in a
     * row ({@code repartition_steps} apart, the same stage the slowest in both), the units that
     * change stage move with their optimizer state ({@link StageMove}) and every rank runs the new plan. A check that
     * keeps the plan doubles the window to the next (up to {@link #MAX_WINDOW_FACTOR} x {@code repartition_steps}),
     * of which the last {@link #MEASURED_FACTOR} x {@code repartition_steps} steps at most are measured; checks end
     * after {@link #MAX_REPARTITIONS} changes.
     */
    void afterUpdate(Optimizer optimizer, double updateMillis) {
        if (!adjustable()) {
            return;
        }
        PipelineExecutor exec = current.executor();
        boolean wasMeasured = exec.computeClock().measuring();
        ComputeClock.Sample sample = exec.computeClock().take();
        stepsSinceCheck++;
        if (wasMeasured && (!freshPlan || baseWindow == 1)) {
            measured.add(sample, updateMillis);
        }
        freshPlan = false;
        if (stepsSinceCheck < window || measured.isEmpty()) {
            measureNextStep(exec);
            return;
        }
        int steps = measured.size();
        Repartition.Measured times = measured.gather(ctx.world(), ctx.topology(), ctx.ppSize());
        double[] stageMillis = times.total();
        stepsSinceCheck = 0;
        Repartition.Proposal proposal = propose(times);
        boolean confirmed = confirmation.confirms(proposal != null, stageMillis);
        if (proposal != null && !confirmed) {
            window = baseWindow;
            if (ctx.rank() == 0) {
                LOG.info("partition plan kept for now: measured stage times {} ms per step over {} steps, a plan "
                        + "{}% better, to be confirmed by the next check in {} steps",
                        Arrays.toString(round(stageMillis)), steps, String.format(Locale.ROOT, "%.1f",
                                100 * proposal.gain()), window);
            }
            measureNextStep(exec);
            return;
        }
        if (proposal == null) {
            int next = Math.min(window * 2, baseWindow * MAX_WINDOW_FACTOR);
            if (ctx.rank() == 0) {
                LOG.info("partition plan kept: measured stage times {} ms per step over {} steps, no plan better by "
                        + "more than {}%; next check in {} steps", Arrays.toString(round(stageMillis)), steps,
                        100 * threshold, next);
            }
            window = next;
            measureNextStep(exec);
            return;
        }
        window = baseWindow;
        repartition(proposal, stageMillis, optimizer);
    }

    /**
     * The plan measured times call for. Time alone with one chunk per rank: plans compared by their estimated step
     * time ({@link Repartition#byPeriod}); otherwise by the slowest stage's cost, memory weighed in.
     */
    private Repartition.Proposal propose(Repartition.Measured times) {
        StageContext.Settings c = ctx.settings();
        if (c.memoryWeight() == 0 && c.virtualStages() == 1) {
            int runAhead = c.runAhead() ? c.activeMicrobatches() : 0;
            boolean[] shareable = LentUnits.shareable(ModelUnits.resolve(block, current.plan().unitNames()));
            return Repartition.byPeriod(current.plan(), times, schedule, runAhead, threshold,
                    current.memoryLimits(), c.activeMicrobatches(), shareable);
        }
        return Repartition.propose(current.plan(), times.total(), threshold, current.memoryLimits(),
                c.activeMicrobatches(), c.memoryWeight());
    }

    /** Whether the coming step is among the last measured ones of the window: sets the clock for it. */
    private void measureNextStep(PipelineExecutor exec) {
        exec.computeClock().setMeasuring(window - stepsSinceCheck <= baseWindow * MEASURED_FACTOR);
    }

    private void repartition(Repartition.Proposal proposal, double[] stageMillis,
                             Optimizer optimizer) {
        PartitionPlan from = current.plan();
        PartitionPlan to = proposal.plan();
        Map<Integer, byte[]> received = null;
        String failure = null;
        try {
            received = StageMove.exchange(ctx, block, optimizer, from, to);
        } catch (RuntimeException e) {
            failure = e.toString();
        }
        // Every rank applies, or none: a rank that could not get its units keeps the world on the old plan.
        float[] failed = {failure == null ? 0 : 1};
        ctx.world().allReduce(failed, ReduceOp.SUM);
        if (failed[0] > 0) {
            LOG.warn("rank {}: re-partitioning abandoned on every rank{}; training goes on with the current plan",
                    ctx.rank(), failure == null ? " (another rank failed to move its units)" : ": " + failure);
            repartitions = MAX_REPARTITIONS;
            current.executor().computeClock().setMeasuring(false);
            return;
        }
        StageMove.apply(ctx, block, manager, optimizer, from, to, received, current.sample().unitInputs());
        List<ModelUnits.Unit> units = ModelUnits.resolve(block, to.unitNames());
        // Replicas of lent units: created where the new plan has one, freed where it no longer does.
        StageBuilder.Assembled rank = StageBuilder.assemble(ctx, to, units, current.sample().unitInputs(),
                manager);
        PipelineExecutor exec = rank.executor();
        current = current.with(to, rank);
        repartitions++;
        freshPlan = true;
        exec.computeClock().setMeasuring(adjustable());
        if (ctx.rank() == 0) {
            LOG.info("re-partitioned: {}", Repartition.describe(round(stageMillis), proposal));
            to.table().forEach(line -> LOG.info("{}", line));
        }
    }

    private static double[] round(double[] v) {
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            r[i] = Math.round(v[i] * 10) / 10.0;
        }
        return r;
    }
}
