package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.optimizer.Optimizer;
import io.smp4j.core.partition.Partitioning;
import io.smp4j.core.step.MicrobatchContext;
import io.smp4j.core.step.StepModel;
import io.smp4j.pipeline.djl.DjlInternals;
import io.smp4j.pipeline.exec.PipelineExecutor;
import io.smp4j.pipeline.model.ModelUnits;
import io.smp4j.pipeline.model.NDLists;
import io.smp4j.pipeline.model.Parameters;
import io.smp4j.pipeline.partition.PartitionPlan;
import io.smp4j.pipeline.wire.TensorCodec;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

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
    /** Shared microbatch counts of a fixed placement, or null. */
    private int[] placementShared;
    private Partitioning.Result partitioned;
    private boolean training = true;
    private StepOutput lastOutput;
    /**
     * 1/M, made once on the model's device: creating a scalar there is a blocking host-to-device copy, and one per
     * microbatch would stall a GPU's queue every time. Held by the model, so it lives as long as any graph using it.
     */
    private NDArray lossScale;
    /** Changes the plan from measured stage times (from the first step on). */
    private Repartitioner repartitioner;
    /** The data-parallel average overlapped with backward; null when off or not needed. */
    private OverlappedAllReduce overlap;

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
        return placeByPlan(unitNames, boundaries, null);
    }

    /**
     * As {@link #placeByPlan(List, int[])}, with shared units: {@code shared[s] = k > 0} runs the last unit of stage
     * s-1 on stage s for the first k microbatches of each step ({@link PartitionPlan#shared}; null for none). What
     * re-partitioning chooses for balance finer than a unit; the results stay those of one process, bitwise.
     */
    public DistributedModel placeByPlan(List<String> unitNames, int[] boundaries, int[] shared) {
        requireNotPartitioned();
        placementShared = shared == null ? null : shared.clone();
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
                new Partitioning.Placement(placement, fixedPlacement, placementUnits, placementShared),
                modelOutput);
        repartitioner = new Repartitioner(smp, block, manager, partitioned);
        SmpConfig c = smp.config();
        if (c.ddp() && smp.dpSize() > 1 && c.overlapAllReduce() && !smp.deviceResources().gradientsOnGpus()) {
            overlap = new OverlappedAllReduce(smp.dataParallelGroup(), c.bucketCapMb());
            partitioned.executor().setGradientsReady(overlap);
        }
    }

    /** The last step's overlapped gradient average (once), or null when that step's gradients were not averaged. */
    OverlappedAllReduce.Result takeOverlapped() {
        return overlap == null ? null : overlap.take();
    }

    /**
     * After each optimizer update ({@link DistributedOptimizer#step()} calls it; collective over the world): the
     * plan may change from measured stage times ({@link Repartitioner}).
     */
    void afterUpdate(Optimizer optimizer, double updateMillis) {
        if (repartitioner != null) {
            repartitioner.afterUpdate(optimizer, updateMillis);
            if (partitioned != repartitioner.current() && overlap != null) {
                repartitioner.current().executor().setGradientsReady(overlap);
            }
            partitioned = repartitioner.current();
        }
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
