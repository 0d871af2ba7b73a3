package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import io.smp4j.pipeline.exec.PipelineExecutor;
import io.smp4j.pipeline.model.ModelUnits;
import io.smp4j.pipeline.model.Parameters;
import io.smp4j.pipeline.partition.PartitionPlan;
import io.smp4j.pipeline.partition.Planner;
import java.util.ArrayList;
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
 */
public final class DistributedModel {
    private static final Logger LOG = LoggerFactory.getLogger(DistributedModel.class);

    private final Smp smp;
    private final Block block;
    private final NDManager manager;
    private final Map<Integer, Integer> placement = new HashMap<>();
    private PartitionPlan plan;
    private boolean fixedPlacement;
    private Block stage;
    private PipelineExecutor executor;
    private boolean training = true;
    private StepOutput lastOutput;
    /** Set while a step body runs for one microbatch. */
    private StepContext current;

    public DistributedModel(Smp smp, Block block, NDManager manager) {
        this.smp = smp;
        this.block = block;
        this.manager = manager;
    }

    /** Manual placement of unit {@code unit} (in model order) on stage {@code stage}; used when auto_partition false. */
    public DistributedModel place(int unit, int stage) {
        if (plan != null) {
            throw new IllegalStateException("the model is already partitioned; place units before the first step");
        }
        placement.put(unit, stage);
        return this;
    }

    /**
     * Partitions at these stage boundaries (unit indices, {@code partitions + 1} of them, from 0 to the unit count)
     * instead of planning, even with {@code auto_partition} on: what resuming a checkpoint needs, since an automatic
     * plan rests on measured times and can differ between runs. See {@link Checkpoints#placeLikeLatest}.
     */
    public DistributedModel placeByBoundaries(int[] boundaries) {
        if (plan != null) {
            throw new IllegalStateException("the model is already partitioned; place units before the first step");
        }
        int p = smp.ppSize();
        if (boundaries.length != p + 1 || boundaries[0] != 0) {
            throw new IllegalArgumentException("stage boundaries " + java.util.Arrays.toString(boundaries) + " do not "
                    + "describe " + p + " stages (need " + (p + 1) + " unit indices starting at 0)");
        }
        placement.clear();
        for (int s = 0; s < p; s++) {
            if (boundaries[s + 1] <= boundaries[s]) {
                throw new IllegalArgumentException("stage boundaries " + java.util.Arrays.toString(boundaries)
                        + " leave stage " + s + " empty");
            }
            for (int u = boundaries[s]; u < boundaries[s + 1]; u++) {
                placement.put(u, s);
            }
        }
        fixedPlacement = true;
        return this;
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

    public boolean isTraining() {
        return training;
    }

    public boolean partitioned() {
        return plan != null;
    }

    /** The plan every rank runs (null before the first step). */
    public PartitionPlan plan() {
        return plan;
    }

    /** The block this rank runs (null before the first step). */
    public Block localStage() {
        return stage;
    }

    /** Parameters of this rank's stage. */
    public List<Parameter> localParameters() {
        return stage == null ? List.of() : Parameters.of(stage);
    }

    public Smp smp() {
        return smp;
    }

    /** The wrapped block (all of it; this rank trains only {@link #localStage()}). */
    public Block block() {
        return block;
    }

    NDManager manager() {
        return manager;
    }

    PipelineExecutor executor() {
        return executor;
    }

    /**
     * Partitions now, with {@code sample} (one microbatch of the model input) for measuring; collective over the
     * world. Steps do this by themselves the first time; call it to load a checkpoint before any step.
     */
    public void partition(NDList sample) {
        if (plan != null) {
            throw new IllegalStateException("the model is already partitioned");
        }
        int p = smp.ppSize();
        Planner.Settings settings = smp.config().autoPartition() && !fixedPlacement
                ? Planner.Settings.auto(p, smp.config().memoryWeight())
                : Planner.Settings.manual(p, placement, smp.config().defaultPartition());
        long[] limits = stageMemoryLimits();
        if (limits != null && settings.assignment() == null) {
            settings = settings.withMemoryLimits(limits, smp.config().activeMicrobatches());
        }
        // World rank 0 plans for every replica: the data-parallel all-reduce needs identical stages.
        plan = Planner.plan(smp.world(), block, sample, settings);
        List<ModelUnits.Unit> units = ModelUnits.of(block, p);
        stage = ModelUnits.stage(units, plan.firstUnit(smp.ppRank()), plan.endUnit(smp.ppRank()));
        executor = new PipelineExecutor(stage, smp.ppRank(), p, smp.pipelineGroup(), manager);
        executor.setListener((a, start, end) -> {
            Timeline t = smp.timeline();
            if (t != null) {
                t.action(a, start, end);
            }
        });
        if (smp.rank() == 0) {
            plan.table().forEach(line -> LOG.info("{}", line));
        }
        releaseOtherStages(units);
        // The replicas of a stage start from identical parameters even if their seeds differ.
        if (smp.dpSize() > 1) {
            for (Parameter prm : Parameters.of(stage)) {
                NDArray a = prm.getArray();
                float[] v = a.toFloatArray();
                smp.dataParallelGroup().broadcast(v, 0, v.length, 0);
                Parameters.copyInto(a, v);
            }
        }
    }

    /**
     * Collective over the world: each stage's memory limit = the least free memory among the GPUs of the ranks that
     * run it (JCuda, at start-up); null when any rank trains on the CPU.
     */
    private long[] stageMemoryLimits() {
        io.smp4j.core.device.Gpu gpu = smp.deviceSelection().gpu();
        long mine = gpu == null ? -1 : gpu.freeBytes();
        byte[][] all = smp.world().allGather(java.nio.ByteBuffer.allocate(8).putLong(mine).array());
        long[] limits = new long[smp.ppSize()];
        java.util.Arrays.fill(limits, Long.MAX_VALUE);
        for (int r = 0; r < all.length; r++) {
            long free = java.nio.ByteBuffer.wrap(all[r]).getLong();
            if (free < 0) {
                return null;
            }
            int stage = smp.topology().ppRank(r);
            limits[stage] = Math.min(limits[stage], free);
        }
        return limits;
    }

    /**
     * Frees the parameters of the units other stages run: this rank keeps only its stage's. Every rank initialised the
     * whole block (so that the initial model depends only on the seed) and the planner measured all of it; from here
     * on the rest is dead weight. Their shapes and initialisers stay, so {@link Checkpoints#exportFull} can
     * re-create them to gather the whole model.
     */
    private void releaseOtherStages(List<ModelUnits.Unit> units) {
        long freed = 0;
        long kept = 0;
        for (int u = 0; u < units.size(); u++) {
            boolean local = u >= plan.firstUnit(smp.ppRank()) && u < plan.endUnit(smp.ppRank());
            for (Parameter prm : Parameters.of(units.get(u).block())) {
                if (!prm.isInitialized()) {
                    continue;
                }
                if (local) {
                    kept += prm.getArray().size();
                } else {
                    freed += prm.getArray().size();
                    prm.close();
                }
            }
        }
        LOG.debug("rank {}: keeps {} parameter values of stage {}, released {} of other stages", smp.rank(), kept,
                smp.ppRank(), freed);
    }

    /**
     * Inside a step: runs this rank's stage on the microbatch. On stage 0 the argument is the model input; later
     * stages use the activation received from the previous stage. On stages other than the last the step body ends
     * here (they have no output to score).
     */
    public NDList forward(NDList inputs) {
        StepContext ctx = current;
        if (ctx == null) {
            throw new IllegalStateException("DistributedModel.forward is only valid inside a @Step method run by "
                    + "Smp.step");
        }
        if (ctx.tracing) {
            ctx.traced = inputs;
            throw StepContext.STOP;
        }
        NDArray in = ctx.input;
        if (in == null) {
            in = inputs.head().duplicate();
            in.attach(ctx.scope);
        }
        NDList out = executor.forwardStage(in, training);
        out.attach(ctx.scope);
        ctx.output = out.head();
        if (!executor.isLastStage()) {
            throw StepContext.STOP;
        }
        return out;
    }

    /** Inside a training step: the loss of this microbatch to backpropagate (averaged over microbatches). */
    public void backward(NDArray loss) {
        StepContext ctx = current;
        if (ctx == null || ctx.tracing) {
            throw new IllegalStateException("DistributedModel.backward is only valid inside a @Step method run by "
                    + "Smp.step");
        }
        // A tensor, not mul(Number): see PipelineExecutor.Forward.Result#keepAlive.
        NDArray scale = ctx.scope.create(1f / smp.config().microbatches());
        ctx.keepAlive.add(scale);
        ctx.target = loss.mul(scale);
    }

    void enter(StepContext ctx) {
        current = ctx;
    }

    void leave() {
        current = null;
    }

    void replaceOutput(StepOutput out) {
        if (lastOutput != null) {
            lastOutput.close();
        }
        lastOutput = out;
    }

    /** One microbatch's state while the step body runs. */
    static final class StepContext {
        /** Ends the body where the rest cannot run here; not an error. */
        static final RuntimeException STOP = new RuntimeException("step body stops here", null, false, false) {
        };
        final NDArray input;
        final NDManager scope;
        final boolean tracing;
        NDList traced;
        NDArray output;
        NDArray target;
        final List<NDArray> keepAlive = new ArrayList<>();

        StepContext(NDArray input, NDManager scope, boolean tracing) {
            this.input = input;
            this.scope = scope;
            this.tracing = tracing;
        }
    }
}
