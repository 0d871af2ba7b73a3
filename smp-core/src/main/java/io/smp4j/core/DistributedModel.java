package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataDesc;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.optimizer.Optimizer;
import io.smp4j.core.stage.StageBuilder;
import io.smp4j.pipeline.exec.PipelineExecutor;
import io.smp4j.pipeline.exec.StageCall;
import io.smp4j.pipeline.model.ModelUnits;
import io.smp4j.pipeline.model.NDLists;
import io.smp4j.pipeline.model.Parameters;
import io.smp4j.pipeline.model.SeededInit;
import io.smp4j.pipeline.partition.PartitionPlan;
import io.smp4j.pipeline.partition.Partitioner;
import io.smp4j.pipeline.wire.TensorCodec;
import java.util.List;
import java.util.function.Supplier;

/*
 * Longer than 300 lines on purpose: this is the user's one object, SageMaker's DistributedModel, and most of its lines
 * are its public API and that API's documentation (placement by hand, partitioning, delayed initialisation, forward
 * and backward inside a step). What is not API lives elsewhere: ManualPlacement, StageParts, LossScale, StageBuilder,
 * Repartitioner.
 */

/**
 * A DJL {@link Block} trained split across the ranks of its pipeline group, as SageMaker's
 * {@code smp.DistributedModel}. Initialise the block the same way on every rank (same seed), then wrap it; or, for a
 * model one device cannot hold, wrap it uninitialised with {@link #delayed} (SageMaker's
 * {@code delay_param_initialization}): each rank then allocates only its own stage. At the first {@link Step} it is
 * partitioned (auto by measured cost, or manually with {@link #place}); this rank then runs only its stage. Inside a
 * step, {@link #forward} runs the local stage and {@link #backward} marks the loss.
 *
 * <pre>{@code
 * DistributedModel model = new DistributedModel(smp, resnet, manager);
 * StepOutput loss = smp.step(this, "trainStep", model, images, labels);   // partitions at the first step
 *
 * DistributedModel big = DistributedModel.delayed(smp, gpt, manager, 42); // gpt not initialised
 * }</pre>
 */
public final class DistributedModel implements StepModel {
    private final Smp smp;
    private final Block block;
    private final NDManager manager;
    /** Delayed initialisation: the block is not initialised; each rank materialises its own stage. */
    private final boolean delayed;
    /** Bytes per parameter byte a stage holds (weights, gradients, optimizer state), for memory limits. */
    private double stateFactor = Partitioner.DEFAULT_STATE_FACTOR;
    private final ManualPlacement placement = new ManualPlacement();
    private StageBuilder.Result partitioned;
    private boolean training = true;
    private StepOutput lastOutput;
    /** The microbatch whose step body runs now ({@link #running}), or null outside a step. */
    private MicrobatchContext running;
    /** What the last stage's loss is multiplied by before backward: 1/M (and fp16's loss scale). */
    private final LossScale lossScale = new LossScale();
    /** Changes the plan from measured stage times (from the first step on). */
    private Repartitioner repartitioner;
    /** What the executor gets besides the plan: the overlapped all-reduce, half precision (each null when off). */
    private StageParts parts;

    public DistributedModel(Smp smp, Block block, NDManager manager) {
        this(smp, block, manager, false);
    }

    private DistributedModel(Smp smp, Block block, NDManager manager, boolean delayed) {
        this.smp = smp;
        this.block = block;
        this.manager = manager;
        this.delayed = delayed;
    }

    /**
     * Delayed initialisation, SageMaker's {@code smp.delay_param_initialization}: {@code block} is built but not
     * initialised, and no rank ever allocates all of it. At the first step world rank 0 measures the model one unit at a
     * time (each materialised, measured and released again; on the CPU with {@code trace_device cpu}), the plan goes to
     * every rank, and each rank allocates only the parameters of its own stage (and of lent units it runs). Every
     * parameter's initial values come from {@code seed} and its path in the model ({@link SeededInit}), so any layout
     * (P = 1, P = 4, P x D) starts from the same model: the one {@code SeededInit.apply(block, seed)} followed by
     * {@code block.initialize(...)} gives on one process.
     *
     * @throws IllegalArgumentException when some parameter of {@code block} is initialised already
     */
    public static DistributedModel delayed(Smp smp, Block block, NDManager manager, long seed) {
        for (Parameter p : Parameters.of(block)) {
            if (p.isInitialized()) {
                throw new IllegalArgumentException("delayed initialisation needs a block that is not initialised, but "
                        + "its parameter '" + p.getName() + "' is (" + p.getArray().getShape() + "); build the block "
                        + "and wrap it without calling initialize, or use new DistributedModel(smp, block, manager)");
            }
        }
        SeededInit.apply(block, seed);
        return new DistributedModel(smp, block, manager, true);
    }

    /** Whether this model was wrapped for delayed initialisation. */
    public boolean isDelayed() {
        return delayed;
    }

    /**
     * Bytes per byte of parameters a stage holds for weights, gradients and optimizer state, which memory limits
     * weigh ({@link DistributedOptimizer} sets it from its optimizer: 3 for SGD with momentum, 4 for Adam).
     */
    void stateFactor(double factor) {
        stateFactor = factor;
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
     * As {@link #placeByPlan(List, int[])}, with lent units: {@code lent[s] = k > 0} runs the last unit of stage
     * s-1 on stage s for the first k microbatches of each step ({@link PartitionPlan#lent}; null for none). What
     * re-partitioning chooses for balance finer than a unit; the results stay those of one process, bitwise.
     */
    public DistributedModel placeByPlan(List<String> unitNames, int[] boundaries, int[] lent) {
        requireNotPartitioned();
        placement.byPlan(unitNames, boundaries, lent, smp.ppSize() * smp.config().virtualStages());
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
        partitioned = StageBuilder.partition(smp.stageContext(), block, manager, sample,
                placement.toPlacement(),
                modelOutput, new StageBuilder.Holding(delayed, stateFactor));
        repartitioner = new Repartitioner(smp.stageContext(), smp.trainingSchedule(), smp.config().repartitionSteps(),
                smp.config().repartitionThreshold(), block, manager, partitioned);
        parts = StageParts.of(smp, manager);
        parts.attach(partitioned.executor(), localParameters());
    }

    /**
     * Partitions with a sample of zeros of these types and shapes (one microbatch), for loading a checkpoint before any
     * step when no real batch is at hand. Integer inputs of zeros must be valid for the model (token 0, say).
     */
    public void partition(DataDesc... inputs) {
        try (NDManager scope = manager.newSubManager()) {
            partition(NDLists.zeros(scope, inputs));
        }
    }

    /** Unit {@code u}'s input shapes on the microbatch the plan was measured on (units of {@link #plan()}). */
    Shape[] unitInputShapes(int u) {
        return partitioned.sample().inputShapes(u);
    }

    /** The last step's overlapped gradient average (once), or null when that step's gradients were not averaged. */
    OverlappedAllReduce.Result takeOverlapped() {
        return parts.takeOverlapped();
    }

    /**
     * After each optimizer update ({@link DistributedOptimizer#step()} calls it; collective over the world): the
     * plan may change from measured stage times ({@link Repartitioner}).
     */
    void afterUpdate(Optimizer optimizer, double updateMillis) {
        if (repartitioner != null) {
            repartitioner.afterUpdate(optimizer, updateMillis);
            if (partitioned != repartitioner.current()) {
                partitioned = repartitioner.current();
                parts.attach(partitioned.executor(), localParameters()); // a new executor, units that arrived
            }
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
        MicrobatchContext ctx = microbatch("DistributedModel.forward");
        NDManager scope = ctx.scope();
        NDList in = ctx.received();
        if (in == null) {
            in = NDLists.copy(inputs, scope);
        }
        if (ctx.tracing() && delayed) {
            // Nothing of the model exists yet: partition now, on this input (world rank 0 measures unit by unit, every
            // rank then allocates its stage); the body goes on with placeholders of the model's output.
            partition(in, null);
            NDList out = partitioned.sample().placeholders(scope, StageBuilder.rows(in));
            ctx.recordForward(in, out);
            return out;
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
        StageCall call = ctx.call();
        HalfPrecision half = parts.half();
        if (half != null) {
            in = half.toHalf(in); // stage 0's model input; what later stages receive is half already
        }
        NDList out = call.forward(in, training);
        if (half != null && call.lastStage()) {
            out = half.toFloat(out); // the loss in fp32
        }
        out.attach(scope);
        ctx.recordForward(in, out);
        if (call.lastStage()) {
            return out;
        }
        return partitioned.sample().placeholders(scope, StageBuilder.rows(in));
    }

    /**
     * Inside a training step: the loss of this microbatch to backpropagate (averaged over microbatches). Only the last
     * stage's loss counts; elsewhere (placeholders, the tracing pass) this does nothing.
     */
    public void backward(NDArray loss) {
        MicrobatchContext ctx = microbatch("DistributedModel.backward");
        if (ctx.tracing() || !ctx.call().lastStage()) {
            return;
        }
        ctx.recordBackward(lossScale.apply(loss, smp.config().microbatches(), manager));
    }

    @Override
    public <T> T running(MicrobatchContext microbatch, Supplier<T> body) {
        MicrobatchContext outer = running;
        running = microbatch;
        try {
            return body.get();
        } finally {
            running = outer;
        }
    }

    /** The microbatch the step body runs for now ({@code caller} names what asked, outside a step). */
    private MicrobatchContext microbatch(String caller) {
        if (running == null) {
            throw new IllegalStateException(caller + " is only valid inside a @Step method run by Smp.step");
        }
        return running;
    }

    @Override
    public void beginStep() {
        if (parts.half() != null) {
            parts.half().beginStep();
        }
    }

    /** The half-precision copies, or null in fp32. */
    HalfPrecision halfPrecision() {
        return parts == null ? null : parts.half();
    }

    /** fp16's loss scale: the last stage's loss is multiplied by it (and by 1/M) before backward. */
    void lossScaling(float scale) {
        lossScale.scaling(scale);
    }

    @Override
    public void adoptOutput(StepOutput out) {
        if (lastOutput != null) {
            lastOutput.close();
        }
        lastOutput = out;
    }
}
