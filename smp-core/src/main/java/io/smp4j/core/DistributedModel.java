package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.optimizer.Optimizer;
import io.smp4j.comm.ReduceOp;
import io.smp4j.core.partition.Partitioning;
import java.nio.ByteBuffer;
import io.smp4j.core.step.MicrobatchContext;
import io.smp4j.core.step.StepModel;
import io.smp4j.pipeline.djl.DjlInternals;
import io.smp4j.pipeline.exec.PipelineExecutor;
import io.smp4j.pipeline.model.ModelUnits;
import io.smp4j.pipeline.model.NDLists;
import io.smp4j.pipeline.model.Parameters;
import io.smp4j.pipeline.partition.PartitionPlan;
import io.smp4j.pipeline.partition.Repartition;
import io.smp4j.pipeline.wire.TensorCodec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A DJL {@link Block} trained split across the ranks of its pipeline group, as SageMaker's
 * {@code smp.DistributedModel}. Initialise the block the same way on every rank (same seed), then wrap it. At the
 * first {@link Step} it is partitioned (auto by measured cost, or manually with {@link #place}); this rank then runs
 * only its stage. Inside a step, {@link #forward} runs the local stage and {@link #backward} marks the loss.
 *
 * <pre>{@code
 * DistributedModel model = new DistributedModel(smp, resnet, manager);
 * StepOutput loss = smp.step(this, "trainStep", model, images, labels);   // partitions at the first step
 * }</pre>
 */
public final class DistributedModel implements StepModel {
    private final Smp smp;
    private final Block block;
    private final NDManager manager;
    private final Map<Integer, Integer> placement = new HashMap<>();
    private boolean fixedPlacement;
    /** The units a fixed placement's indices refer to (null: the top-level ones). */
    private List<String> placementUnits;
    private Partitioning.Result partitioned;
    private boolean training = true;
    private StepOutput lastOutput;
    /**
     * 1/M, made once on the model's device: creating a scalar there is a blocking host-to-device copy, and one per
     * microbatch would stall a GPU's queue every time. Held by the model, so it lives as long as any graph using it.
     */
    private NDArray lossScale;
    /** Re-partitioning: per measured step, this stage's forward + backward milliseconds since the last plan. */
    private final List<double[]> measured = new ArrayList<>();
    private int stepsSincePlan;
    private int repartitions;
    private static final Logger LOG = LoggerFactory.getLogger(DistributedModel.class);
    /** Most plan changes in one run: measured times are noisy, and a plan must not flap. */
    static final int MAX_REPARTITIONS = 3;

    public DistributedModel(Smp smp, Block block, NDManager manager) {
        this.smp = smp;
        this.block = block;
        this.manager = manager;
    }

    /** Manual placement of unit {@code unit} (in model order) on stage {@code stage}; used when auto_partition false. */
    public DistributedModel place(int unit, int stage) {
        requireNotPartitioned();
        placement.put(unit, stage);
        return this;
    }

    /**
     * Partitions at these stage boundaries (unit indices, {@code partitions + 1} of them, from 0 to the unit count)
     * instead of planning, even with {@code auto_partition} on: what resuming a checkpoint needs, since an automatic
     * plan rests on measured times and can differ between runs. See {@link Checkpoints#placeLikeLatest}.
     */
    public DistributedModel placeByBoundaries(int[] boundaries) {
        return placeByPlan(null, boundaries);
    }

    /**
     * As {@link #placeByBoundaries}, over the units named {@code unitNames} ({@link PartitionPlan#unitNames()} of the
     * plan to reproduce; null for the model's top-level units).
     */
    public DistributedModel placeByPlan(List<String> unitNames, int[] boundaries) {
        requireNotPartitioned();
        placementUnits = unitNames == null ? null : List.copyOf(unitNames);
        int p = smp.ppSize() * smp.config().virtualStages();
        if (boundaries.length != p + 1 || boundaries[0] != 0) {
            throw new IllegalArgumentException("stage boundaries " + Arrays.toString(boundaries) + " do not "
                    + "describe " + p + " stages (need " + (p + 1) + " unit indices starting at 0)");
        }
        placement.clear();
        for (int s = 0; s < p; s++) {
            if (boundaries[s + 1] <= boundaries[s]) {
                throw new IllegalArgumentException("stage boundaries " + Arrays.toString(boundaries)
                        + " leave stage " + s + " empty");
            }
            for (int u = boundaries[s]; u < boundaries[s + 1]; u++) {
                placement.put(u, s);
            }
        }
        fixedPlacement = true;
        return this;
    }

    private void requireNotPartitioned() {
        if (partitioned != null) {
            throw new IllegalStateException("the model is already partitioned; place units before the first step");
        }
    }

    /** Steps train (forward + backward); {@link #eval()} makes them forward-only. */
    public DistributedModel train() {
        training = true;
        return this;
    }

    public DistributedModel eval() {
        training = false;
        return this;
    }

    @Override
    public boolean isTraining() {
        return training;
    }

    @Override
    public boolean partitioned() {
        return partitioned != null;
    }

    /** The plan every rank runs (null before the first step). */
    public PartitionPlan plan() {
        return partitioned == null ? null : partitioned.plan();
    }

    /** The block this rank runs (null before the first step). */
    public Block localStage() {
        return partitioned == null ? null : partitioned.stage();
    }

    /** Parameters of this rank's stage. */
    public List<Parameter> localParameters() {
        return partitioned == null ? List.of() : Parameters.of(partitioned.stage());
    }

    public Smp smp() {
        return smp;
    }

    /** The wrapped block (all of it; this rank trains only {@link #localStage()}). */
    public Block block() {
        return block;
    }

    @Override
    public NDManager manager() {
        return manager;
    }

    @Override
    public PipelineExecutor executor() {
        return partitioned.executor();
    }

    /**
     * Partitions now, with {@code sample} (one microbatch of the model input) for measuring; collective over the
     * world. Steps do this by themselves the first time; call it to load a checkpoint before any step.
     */
    public void partition(NDList sample) {
        partition(sample, null);
    }

    @Override
    public void partition(NDList sample, TensorCodec.Header modelOutput) {
        if (partitioned != null) {
            throw new IllegalStateException("the model is already partitioned");
        }
        partitioned = Partitioning.partition(smp, block, manager, sample,
                new Partitioning.Placement(placement, fixedPlacement, placementUnits), modelOutput);
        partitioned.executor().setMeasuring(adjustable());
    }

    /** Whether the plan may change from measured times: auto_partition, repartition_steps > 0, several stages. */
    private boolean adjustable() {
        SmpConfig c = smp.config();
        return c.autoPartition() && c.repartitionSteps() > 0 && smp.ppSize() > 1 && repartitions < MAX_REPARTITIONS;
    }

    /**
     * After each optimizer update ({@link DistributedOptimizer#step()} calls it; collective over the world): while the
     * plan may still change, counts this stage's measured forward + backward time; after {@code repartition_steps}
     * steps (the first after a plan change not counted: it pays for first calls) every rank gathers the stage times,
     * and when a plan from them beats the current one by more than {@code repartition_threshold}, the units that
     * change stage move with their optimizer state ({@link StageMove}) and every rank runs the new plan. Measuring
     * stops when a check keeps the plan.
     */
    void afterUpdate(Optimizer optimizer) {
        if (partitioned == null || !adjustable()) {
            return;
        }
        PipelineExecutor exec = partitioned.executor();
        long[] nanos = exec.takeComputeNanos();
        double[] ms = new double[nanos.length];
        for (int c = 0; c < ms.length; c++) {
            ms[c] = nanos[c] / 1e6;
        }
        stepsSincePlan++;
        int k = smp.config().repartitionSteps();
        if (stepsSincePlan > 1 || k == 1) {
            measured.add(ms);
        }
        if (stepsSincePlan < Math.max(k, 1) || measured.isEmpty()) {
            return;
        }
        double[] mine = new double[ms.length];
        for (int c = 0; c < mine.length; c++) {
            final int chunk = c;
            mine[c] = median(measured.stream().map(a -> a[chunk]).toList());
        }
        double[] stageMillis = gatherStageTimes(mine);
        measured.clear();
        stepsSincePlan = 0;
        PartitionPlan current = partitioned.plan();
        Repartition.Proposal proposal = Repartition.propose(current, stageMillis, smp.config().repartitionThreshold(),
                partitioned.memoryLimits(), smp.config().activeMicrobatches(), smp.config().memoryWeight());
        if (proposal == null) {
            if (smp.rank() == 0) {
                LOG.info("partition plan kept: measured stage times {} ms per step, no plan better by more than {}%",
                        Arrays.toString(round(stageMillis)), 100 * smp.config().repartitionThreshold());
            }
            repartitions = MAX_REPARTITIONS; // no more checks
            exec.setMeasuring(false);
            return;
        }
        repartition(proposal, stageMillis, optimizer);
    }

    private void repartition(Repartition.Proposal proposal, double[] stageMillis,
                             Optimizer optimizer) {
        PartitionPlan from = partitioned.plan();
        PartitionPlan to = proposal.plan();
        Map<Integer, byte[]> received = null;
        String failure = null;
        try {
            received = StageMove.exchange(smp, block, optimizer, from, to);
        } catch (RuntimeException e) {
            failure = e.toString();
        }
        // Every rank applies, or none: a rank that could not get its units keeps the world on the old plan.
        float[] failed = {failure == null ? 0 : 1};
        smp.world().allReduce(failed, ReduceOp.SUM);
        if (failed[0] > 0) {
            LOG.warn("rank {}: re-partitioning abandoned on every rank{}; training goes on with the current plan",
                    smp.rank(), failure == null ? " (another rank failed to move its units)" : ": " + failure);
            repartitions = MAX_REPARTITIONS;
            partitioned.executor().setMeasuring(false);
            return;
        }
        StageMove.apply(smp, block, manager, optimizer, from, to, received);
        List<ModelUnits.Unit> units = ModelUnits.resolve(block, to.unitNames());
        List<Block> chunks = Partitioning.chunks(units, to, smp.ppRank(), smp.ppSize());
        PipelineExecutor exec = Partitioning.build(smp, to, chunks, manager);
        partitioned = partitioned.with(to, Partitioning.rankBlock(chunks), exec);
        repartitions++;
        exec.setMeasuring(adjustable());
        if (smp.rank() == 0) {
            LOG.info("re-partitioned: {}", Repartition.describe(round(stageMillis), proposal));
            to.table().forEach(line -> LOG.info("{}", line));
        }
    }

    /**
     * Per global stage, the mean over its replicas of the measured milliseconds per step (the same on every rank);
     * {@code mine} has one value per chunk of this rank.
     */
    private double[] gatherStageTimes(double[] mine) {
        ByteBuffer b = ByteBuffer.allocate(8 * mine.length);
        for (double x : mine) {
            b.putDouble(x);
        }
        byte[][] all = smp.world().allGather(b.array());
        int p = smp.ppSize();
        double[] sum = new double[p * mine.length];
        int[] n = new int[sum.length];
        for (int r = 0; r < all.length; r++) {
            ByteBuffer in = ByteBuffer.wrap(all[r]);
            for (int c = 0; c < mine.length; c++) {
                int g = c * p + smp.topology().ppRank(r);
                sum[g] += in.getDouble();
                n[g]++;
            }
        }
        for (int s = 0; s < sum.length; s++) {
            sum[s] /= Math.max(1, n[s]);
        }
        return sum;
    }

    private static double median(List<Double> v) {
        if (v.isEmpty()) {
            return 0;
        }
        double[] a = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return a.length % 2 == 1 ? a[a.length / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
    }

    private static double[] round(double[] v) {
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            r[i] = Math.round(v[i] * 10) / 10.0;
        }
        return r;
    }

    /**
     * Inside a step: runs this rank's stage on the microbatch and returns the model's output. Stage 0 runs on
     * {@code inputs} (every array of it: a model may take several); later stages run on the activations the
     * previous stage sent. Only the last stage computes the model's output: the others return placeholders of its
     * types and shapes (zeros; a leading dimension that followed the batch in the tracing pass follows this
     * microbatch's), so that the rest of the step body runs harmlessly there; what they compute from them is
     * discarded, since a step's output comes from the last stage.
     */
    public NDList forward(NDList inputs) {
        MicrobatchContext ctx = MicrobatchContext.current("DistributedModel.forward");
        NDManager scope = ctx.scope();
        NDList in = ctx.received();
        if (in == null) {
            in = NDLists.copy(inputs, scope);
        }
        if (ctx.tracing()) {
            // The first step, before partitioning: the whole model unit by unit (an error names the unit), learning
            // nothing.
            NDList out = ModelUnits.forwardAll(ModelUnits.of(block, smp.ppSize()), new ParameterStore(scope, false),
                    in, false);
            out.attach(scope);
            ctx.recordForward(in, out);
            return out;
        }
        PipelineExecutor exec = partitioned.executor();
        NDList out = exec.forwardStage(in, training);
        out.attach(scope);
        ctx.recordForward(in, out);
        if (exec.isLastStage()) {
            return out;
        }
        return partitioned.placeholders(scope, Partitioning.rows(in));
    }

    /**
     * Inside a training step: the loss of this microbatch to backpropagate (averaged over microbatches). Only the last
     * stage's loss counts; elsewhere (placeholders, the tracing pass) this does nothing.
     */
    public void backward(NDArray loss) {
        MicrobatchContext ctx = MicrobatchContext.current("DistributedModel.backward");
        if (ctx.tracing() || !partitioned.executor().isLastStage()) {
            return;
        }
        int m = smp.config().microbatches();
        if (m == 1) {
            ctx.recordBackward(loss); // x * 1 == x: nothing to scale
            return;
        }
        if (lossScale == null || !lossScale.getDevice().equals(loss.getDevice())) {
            lossScale = DjlInternals.scalar(manager, 1f / m);
        }
        ctx.recordBackward(loss.mul(lossScale));
    }

    @Override
    public void adoptOutput(StepOutput out) {
        if (lastOutput != null) {
            lastOutput.close();
        }
        lastOutput = out;
    }
}
