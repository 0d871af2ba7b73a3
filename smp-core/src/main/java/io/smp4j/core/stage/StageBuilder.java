package io.smp4j.core.stage;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import io.smp4j.pipeline.djl.DjlInternals;
import io.smp4j.pipeline.exec.DeviceLink;
import io.smp4j.pipeline.exec.HostStaging;
import io.smp4j.pipeline.exec.PipelineExecutor;
import io.smp4j.pipeline.model.Materializer;
import io.smp4j.pipeline.model.ModelUnits;
import io.smp4j.pipeline.model.NDLists;
import io.smp4j.pipeline.model.Parameters;
import io.smp4j.pipeline.partition.PartitionPlan;
import io.smp4j.pipeline.partition.Partitioner;
import io.smp4j.pipeline.partition.Planner;
import io.smp4j.pipeline.wire.TensorCodec;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * StageBuilder a model, as one collective step over the world: plan (world rank 0 measures and splits; every replica
 * gets the same plan), build this rank's stage and its executor, free the parameters of the other stages, and start
 * the replicas of a stage from identical parameters.
 */
public final class StageBuilder {
    private static final Logger LOG = LoggerFactory.getLogger(StageBuilder.class);

    private StageBuilder() {
    }

    /**
     * What partitioning gives this rank: the decision, what this rank built from it, what the tracing pass showed.
     *
     * @param plan         the plan every rank runs
     * @param rank         this rank's stage and the executor that runs it
     * @param sample       what the sample microbatch showed of the model (fixed for the run, whatever the plan)
     * @param memoryLimits per stage, the memory a plan may use (null: no limit, a fixed placement)
     */
    public record Result(PartitionPlan plan, Assembled rank, Sample sample, long[] memoryLimits) {
        /** The same partitioning under {@code newPlan}, with the stage and executor built for it. */
        public Result with(PartitionPlan newPlan, Assembled newRank) {
            return new Result(newPlan, newRank, sample, memoryLimits);
        }

        /** The block this rank runs. */
        public Block stage() {
            return rank.stage();
        }

        /** Runs this rank's part of a step. */
        public PipelineExecutor executor() {
            return rank.executor();
        }
    }

    /**
     * What the tracing pass showed of the model on one sample microbatch.
     *
     * @param modelOutput what the whole model returns for one microbatch (types and shapes), for the placeholders the
     *                    stages before the last hand the step body
     * @param rows        the leading dimension (rows) of the microbatch {@code modelOutput} was measured on
     * @param unitInputs  per unit of the plan, its input's types and shapes on the sample microbatch: what a rank needs
     *                    to materialise a unit it never ran (delayed initialisation, units that move to it)
     */
    public record Sample(TensorCodec.Header modelOutput, long rows, List<TensorCodec.Header> unitInputs) {
        /** Unit {@code u}'s input shapes on the sample microbatch. */
        public Shape[] inputShapes(int u) {
            return Materializer.shapes(unitInputs, u);
        }

        /**
         * Placeholders for the model's output on a microbatch of {@code rows} rows: zeros of its types and shapes, the
         * leading dimension scaled with the microbatch where it followed the sample's (batch-major outputs).
         */
        public NDList placeholders(NDManager scope, long rows) {
            NDList out = new NDList(modelOutput.count());
            for (int i = 0; i < modelOutput.count(); i++) {
                Shape s = modelOutput.shapes().get(i);
                if (s.dimension() > 0 && s.get(0) == this.rows) {
                    long[] dims = s.getShape();
                    dims[0] = rows;
                    s = new Shape(dims);
                }
                out.add(scope.zeros(s, modelOutput.types().get(i)));
            }
            return out;
        }
    }

    /**
     * How units are placed.
     *
     * @param manual    unit -> stage for manual placement (units not named go to default_partition)
     * @param fixed     use {@code manual} even when auto_partition is on (a checkpoint's saved boundaries)
     * @param unitNames the units {@code manual}'s indices refer to (a saved plan's), or null for the model's
     *                  top-level units
     * @param lent      lent microbatch counts per boundary ({@link PartitionPlan#lent}) for a fixed placement, or
     *                  null for none
     */
    public record Placement(Map<Integer, Integer> manual, boolean fixed, List<String> unitNames, int[] lent) {
        public Placement(Map<Integer, Integer> manual, boolean fixed, List<String> unitNames) {
            this(manual, fixed, unitNames, null);
        }
    }

    /**
     * How the model is held.
     *
     * @param delayed     the block is not initialised: profile it one unit at a time, then materialise only this rank's
     *                    units ({@link io.smp4j.pipeline.model.SeededInit} gives every parameter its values)
     * @param stateFactor bytes per parameter byte of weights, gradients and optimizer state (memory limits)
     */
    public record Holding(boolean delayed, double stateFactor) {
    }

    /**
     * Collective over the world. {@code sample} is one microbatch of the model input; {@code modelOutput} what the
     * whole model returns for it, or null to find out here.
     */
    public static Result partition(StageContext ctx, Block block, NDManager manager, NDList sample, Placement placement,
                                   TensorCodec.Header modelOutput, Holding holding) {
        // Measured where training runs (the model's device), or on the CPU where trace_device says so.
        boolean onCpu = holding.delayed() && "cpu".equals(ctx.settings().traceDevice())
                && manager.getDevice().isGpu();
        try (NDManager scope = onCpu ? NDManager.newBaseManager(Device.cpu()) : manager.newSubManager()) {
            return plan(ctx, block, manager, NDLists.copy(sample, scope), placement, modelOutput, holding);
        }
    }

    private static Result plan(StageContext ctx, Block block, NDManager manager, NDList sample, Placement placement,
                               TensorCodec.Header modelOutput, Holding holding) {
        // With virtual stages the plan has P x v stages; rank r runs stages r, r + P, ...
        int p = ctx.ppSize() * ctx.settings().virtualStages();
        Planner.Settings settings = ctx.settings().autoPartition() && !placement.fixed()
                ? Planner.Settings.auto(p, ctx.settings().memoryWeight())
                : Planner.Settings.manual(p, placement.manual(), ctx.settings().defaultPartition());
        settings = settings.withSynchronize(ctx.synchronize()).withUnits(placement.unitNames())
                .withDelayed(holding.delayed()).withStateFactor(holding.stateFactor());
        long[] limits = StageMemory.limits(ctx);
        if (limits != null && settings.assignment() == null) {
            settings = settings.withMemoryLimits(limits, ctx.settings().activeMicrobatches());
        }
        // World rank 0 plans for every replica: the data-parallel all-reduce needs identical stages.
        Planner.Planned planned = Planner.planned(ctx.world(), block, sample, settings);
        PartitionPlan plan = planned.plan();
        List<ModelUnits.Unit> units = ModelUnits.resolve(block, plan.unitNames());
        if (placement.lent() != null) {
            plan = plan.withLent(placement.lent());
            LentUnits.check(plan, units, ctx);
        }
        if (ctx.rank() == 0) {
            plan.table().forEach(line -> LOG.info("{}", line));
            if (LOG.isDebugEnabled()) {
                plan.unitLines().forEach(line -> LOG.debug("{}", line));
            }
        }
        if (modelOutput == null) {
            modelOutput = planned.output();
        }
        if (holding.delayed()) {
            StageMemory.materializeOwn(ctx, plan, units, planned.inputs(), manager);
        }
        Assembled rank = assemble(ctx, plan, units, planned.inputs(), manager);
        if (ctx.dpSize() > 1) {
            broadcastFromFirstReplica(ctx, rank.stage());
        }
        return new Result(plan, rank, new Sample(modelOutput, rows(sample), planned.inputs()),
                settings.assignment() == null ? settings.memoryLimits() : null);
    }

    /** This rank's stage (its chunks as one block) and the executor that runs it. */
    public record Assembled(Block stage, PipelineExecutor executor) {
    }

    /**
     * What partitioning and re-partitioning both do once the plan is known: other stages' units released (replicas of
     * lent units this rank runs created), this rank's chunks cut, its executor built.
     */
    public static Assembled assemble(StageContext ctx, PartitionPlan plan, List<ModelUnits.Unit> units,
                                     List<TensorCodec.Header> unitInputs, NDManager manager) {
        releaseOtherStages(ctx, plan, units, unitInputs, manager);
        List<Block> chunks = chunks(units, plan, ctx.ppRank(), ctx.ppSize());
        return new Assembled(rankBlock(chunks), build(ctx, plan, units, chunks, manager));
    }

    /** Rank {@code rank}'s chunks under {@code plan}: its global stages rank, rank + ranks, ... in order. */
    public static List<Block> chunks(List<ModelUnits.Unit> units, PartitionPlan plan, int rank, int ranks) {
        List<Block> out = new ArrayList<>();
        for (int g = rank; g < plan.stages(); g += ranks) {
            out.add(ModelUnits.stage(units, plan.firstUnit(g), plan.endUnit(g)));
        }
        return out;
    }

    /** One block holding a rank's chunks (for its parameters: checkpoints, the optimizer); the chunk itself if one. */
    public static Block rankBlock(List<Block> chunks) {
        if (chunks.size() == 1) {
            return chunks.get(0);
        }
        SequentialBlock all = new SequentialBlock();
        chunks.forEach(all::add);
        return all;
    }

    /** This rank's executor of its chunks under {@code plan}, with the timeline, checkpointing and device link. */
    public static PipelineExecutor build(StageContext ctx, PartitionPlan plan, List<ModelUnits.Unit> units, List<Block> chunks,
                                         NDManager manager) {
        int s = ctx.ppRank();
        StringBuilder what = new StringBuilder();
        for (int g = s; g < plan.stages(); g += ctx.ppSize()) {
            what.append(what.length() == 0 ? "" : ", ").append(plan.describeStage(g));
        }
        PipelineExecutor executor = new PipelineExecutor(chunks, s, ctx.ppSize(), ctx.pipelineGroup(), manager,
                what.toString());
        executor.setListener(ctx.actions(), ctx.marks());
        executor.setActivationCheckpointing(ctx.settings().activationCheckpointing());
        if (ctx.settings().runAhead()) {
            // SageMaker's interleaved pipeline: a backward whenever possible, a forward (within
            // active_microbatches) when the next backward's gradient has not arrived.
            executor.setRunAhead(ctx.settings().activeMicrobatches());
        }
        DeviceLink direct = ctx.devices().stageLink();
        if (direct != null) {
            executor.setDeviceLink(direct);
        }
        HostStaging staging = ctx.devices().hostStaging();
        if (staging != null) {
            executor.setHostStaging(staging); // pinned copies on a GPU
        }
        if (chunks.size() == 1) {
            executor.setLentBoundary(LentUnits.boundary(plan, units, chunks.get(0), s));
        }
        return executor;
    }



    /** The leading dimension of a list's first array (its rows: the microbatch size of batch-major data). */
    public static long rows(NDList list) {
        return list.isEmpty() || list.head().getShape().dimension() == 0 ? 1 : list.head().getShape().get(0);
    }

    /**
     * Frees the parameters of the units other stages run: this rank keeps only its stage's. Every rank initialised the
     * whole block (so that the initial model depends only on the seed; not with delayed initialisation, where nothing
     * else was allocated) and the planner measured all of it; from here on the rest is dead weight. Their shapes and initialisers stay, so that a full export can re-create them. A
     * replica of a lent unit is kept (or re-created, after re-partitioning).
     */
    public static void releaseOtherStages(StageContext ctx, PartitionPlan plan, List<ModelUnits.Unit> units,
                                          List<TensorCodec.Header> inputs, NDManager manager) {
        long freed = 0;
        long kept = 0;
        int s = ctx.ppRank();
        for (int u = 0; u < units.size(); u++) {
            boolean local = LentUnits.keeps(plan, u, s, ctx.ppSize());
            if (local && !Materializer.released(units.get(u))) {
                for (Parameter prm : Parameters.of(units.get(u).block())) {
                    kept += prm.getArray().size() * prm.getArray().getDataType().getNumOfBytes();
                }
            } else if (local) {
                // A replica this rank did not keep (a lent unit new to it after re-partitioning): zeros, not the
                // initializer, overwritten by the owner's values before it runs.
                Materializer.zeros(units.get(u), manager, Materializer.shapes(inputs, u));
            } else {
                freed += Materializer.release(units.get(u));
            }
        }
        LOG.debug("rank {}: keeps {} of parameters of stage {}, released {} of other stages", ctx.rank(),
                Partitioner.bytes(kept), s, Partitioner.bytes(freed));
    }

    /** The replicas of a stage start from replica 0's parameters, even if their seeds differ. */
    private static void broadcastFromFirstReplica(StageContext ctx, Block stage) {
        for (Parameter prm : Parameters.of(stage)) {
            NDArray a = prm.getArray();
            float[] v = a.toFloatArray();
            ctx.dataParallelGroup().broadcast(v, 0, v.length, 0);
            DjlInternals.overwrite(a, v);
        }
    }
}
