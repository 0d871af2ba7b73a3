package io.smp4j.core;

import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import io.smp4j.comm.Communicator;
import io.smp4j.core.stage.StageBuilder;
import io.smp4j.core.stage.StageContext;
import io.smp4j.pipeline.model.Materializer;
import io.smp4j.pipeline.model.ModelUnits;
import io.smp4j.pipeline.model.Parameters;
import io.smp4j.pipeline.partition.PartitionPlan;
import io.smp4j.pipeline.wire.TensorCodec;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checkpoints of a {@link DistributedModel}, per stage, as SageMaker's {@code smp.save(..., partial=True)}: data-parallel
 * rank 0 of every stage writes its stage's parameters (running statistics included: name, shape, values), world
 * rank 0 adds a manifest (layout, plan, step). Writes are atomic: everything goes into a temporary directory that is
 * renamed into place, and the {@code latest} pointer is replaced by a rename, so a crash mid-save leaves the previous
 * checkpoint loadable. All calls are collective over the world.
 *
 * <p>Given the {@link DistributedOptimizer}, its state for the stage (momentum, Adam's moments, update counts; see
 * {@link OptimizerState}) is saved next to the parameters and restored with them, so that resuming continues the exact
 * loss trajectory.
 */
public final class Checkpoints {
    private static final Logger LOG = LoggerFactory.getLogger(Checkpoints.class);
    static final String LATEST = "latest";
    static final String MANIFEST = "manifest.properties";

    private Checkpoints() {
    }

    /** Saves {@code model} as checkpoint {@code step} under {@code dir}; returns the checkpoint's directory. */
    public static Path save(DistributedModel model, Path dir, long step) throws IOException {
        return save(model, null, dir, step);
    }

    /** Saves {@code model} and the state of {@code optimizer} (may be null) as checkpoint {@code step}. */
    public static Path save(DistributedModel model, DistributedOptimizer optimizer, Path dir, long step)
            throws IOException {
        StageContext ctx = model.smp().stageContext();
        requirePartitioned(model);
        Communicator world = ctx.world();
        // One temporary directory for the whole job, named by world rank 0.
        byte[] name = world.broadcast(ctx.rank() == 0
                ? (".tmp-step-" + step + "-" + UUID.randomUUID()).getBytes(StandardCharsets.UTF_8) : null, 0);
        Path tmp = dir.resolve(new String(name, StandardCharsets.UTF_8));
        if (ctx.rank() == 0) {
            Files.createDirectories(tmp);
        }
        world.barrier();
        if (ctx.dataParallelGroup().rank() == 0) {
            CheckedFiles.write(tmp.resolve(StageFiles.stageFile(ctx.ppRank())), out -> StageFiles.writeStage(model.localStage(), out));
            if (optimizer != null) {
                CheckedFiles.write(tmp.resolve(StageFiles.optimizerFile(ctx.ppRank())),
                        out -> OptimizerState.write(optimizer.optimizer(), model.localParameters(), out));
            }
        }
        world.barrier();
        Path target = dir.resolve("step-" + step);
        if (ctx.rank() == 0) {
            Properties manifest = new Properties();
            manifest.setProperty("step", Long.toString(step));
            manifest.setProperty("partitions", Integer.toString(ctx.ppSize()));
            manifest.setProperty("boundaries", Arrays.toString(model.plan().boundaries()));
            manifest.setProperty("units", Integer.toString(model.plan().units().size()));
            // The plan's lent units, for the record (key "shared" since the format began): a resumed run need not
            // lend them (same results either way).
            manifest.setProperty("shared", Arrays.toString(model.plan().lent()));
            manifest.setProperty("unit_names", String.join("\t", model.plan().unitNames()));
            manifest.setProperty("optimizer", optimizer == null ? "none" : optimizer.optimizer().getClass().getName());
            try (OutputStream os = Files.newOutputStream(tmp.resolve(MANIFEST))) {
                manifest.store(os, "smp4j checkpoint");
            }
            if (Files.exists(target)) {
                FileTrees.delete(target);
            }
            move(tmp, target);
            Path pointer = dir.resolve(".tmp-" + LATEST + "-" + UUID.randomUUID());
            Files.writeString(pointer, target.getFileName().toString());
            move(pointer, dir.resolve(LATEST));
        }
        world.barrier();
        return target;
    }

    /**
     * Before partitioning: makes {@code model} use the stage boundaries of the newest checkpoint under {@code dir}
     * (an automatic plan rests on measured times and may differ from the saved one). Then partition and load.
     */
    public static void placeLikeLatest(DistributedModel model, Path dir) throws IOException {
        Path checkpoint = latest(dir);
        Properties manifest = manifest(checkpoint);
        int partitions = Integer.parseInt(manifest.getProperty("partitions"));
        if (partitions != model.smp().ppSize()) {
            throw new IllegalArgumentException("checkpoint " + checkpoint + " was saved with partitions " + partitions
                    + ", but this job runs partitions " + model.smp().ppSize() + "; resume with the same partitions "
                    + "or export the full model instead");
        }
        String b = manifest.getProperty("boundaries").replaceAll("[\\[\\] ]", "");
        String names = manifest.getProperty("unit_names");
        model.placeByPlan(names == null ? null : List.of(names.split("\t")),
                Arrays.stream(b.split(",")).mapToInt(Integer::parseInt).toArray());
    }

    private static Path latest(Path dir) throws IOException {
        Path pointer = dir.resolve(LATEST);
        if (!Files.exists(pointer)) {
            throw new IllegalArgumentException("no checkpoint in " + dir + " (no '" + LATEST + "' file)");
        }
        return dir.resolve(Files.readString(pointer).trim());
    }

    private static Properties manifest(Path checkpoint) throws IOException {
        Properties manifest = new Properties();
        Path manifestFile = checkpoint.resolve(MANIFEST);
        if (!Files.exists(manifestFile)) {
            throw new IllegalArgumentException("checkpoint " + checkpoint + " is incomplete: no " + MANIFEST);
        }
        try (var in = Files.newInputStream(manifestFile)) {
            manifest.load(in);
        }
        return manifest;
    }

    /** Loads the newest complete checkpoint under {@code dir} into {@code model}; returns its step. */
    public static long loadLatest(DistributedModel model, Path dir) throws IOException {
        return loadLatest(model, null, dir);
    }

    /** Loads the newest complete checkpoint into {@code model} and, when not null, {@code optimizer}. */
    public static long loadLatest(DistributedModel model, DistributedOptimizer optimizer, Path dir)
            throws IOException {
        return load(model, optimizer, latest(dir));
    }

    /** Loads checkpoint {@code checkpoint} (a {@code step-N} directory) into this rank's stage. */
    public static long load(DistributedModel model, Path checkpoint) throws IOException {
        return load(model, null, checkpoint);
    }

    /**
     * Loads checkpoint {@code checkpoint} into this rank's stage and, when {@code optimizer} is not null, the
     * optimizer's state for it. A checkpoint saved without optimizer state leaves the optimizer fresh (logged).
     */
    public static long load(DistributedModel model, DistributedOptimizer optimizer, Path checkpoint)
            throws IOException {
        requirePartitioned(model);
        StageContext ctx = model.smp().stageContext();
        Properties manifest = manifest(checkpoint);
        String want = Arrays.toString(model.plan().boundaries());
        String names = manifest.getProperty("unit_names");
        if (!Integer.toString(ctx.ppSize()).equals(manifest.getProperty("partitions"))
                || !want.equals(manifest.getProperty("boundaries"))
                || names != null && !names.equals(String.join("\t", model.plan().unitNames()))) {
            throw new IllegalArgumentException("checkpoint " + checkpoint + " was saved with partitions "
                    + manifest.getProperty("partitions") + " and stage boundaries " + manifest.getProperty("boundaries")
                    + ", but this job runs partitions " + ctx.ppSize() + " with boundaries " + want
                    + "; resume with the same partitions (and a manual placement reproducing those boundaries) or "
                    + "export the full model instead");
        }
        // Read and check first, apply only when every rank could: a bad file fails every rank alike, and no rank's
        // model is left half overwritten.
        Path file = checkpoint.resolve(StageFiles.stageFile(ctx.ppRank()));
        List<TensorCodec.Stored> values = null;
        OptimizerState.Loaded state = null;
        boolean withState = optimizer != null && !"none".equals(manifest.getProperty("optimizer", "none"));
        if (optimizer != null && !withState && ctx.rank() == 0) {
            LOG.warn("checkpoint {} holds no optimizer state; the optimizer starts fresh", checkpoint);
        }
        String problem = "";
        try (DataInputStream in = CheckedFiles.read(file)) {
            values = StageFiles.readStage(model.localStage(), in);
        } catch (IOException | RuntimeException e) {
            problem = "checkpoint file " + file + " cannot be loaded (truncated or from another model): " + why(e);
        }
        if (withState && problem.isEmpty()) {
            file = checkpoint.resolve(StageFiles.optimizerFile(ctx.ppRank()));
            try (DataInputStream in = CheckedFiles.read(file)) {
                state = OptimizerState.read(optimizer.optimizer(), model.localParameters(), in);
            } catch (IOException | RuntimeException e) {
                problem = "checkpoint file " + file + " cannot be loaded (truncated, or another optimizer): " + why(e);
            }
        }
        for (byte[] other : ctx.world().allGather(problem.getBytes(StandardCharsets.UTF_8))) {
            if (other.length > 0) {
                throw new IllegalArgumentException(new String(other, StandardCharsets.UTF_8));
            }
        }
        StageFiles.apply(model.localStage(), values);
        if (state != null) {
            OptimizerState.apply(optimizer.optimizer(), model.localParameters(), state, model.manager());
        }
        return Long.parseLong(manifest.getProperty("step"));
    }

    private static String why(Exception e) {
        if (e instanceof EOFException) {
            return "the file ends early";
        }
        if (e instanceof NoSuchFileException) {
            return "the file is missing";
        }
        return String.valueOf(e.getMessage());
    }

    /**
     * Gathers every stage to world rank 0 and writes the whole model as a plain DJL parameter file there, loadable
     * with {@code block.loadParameters(manager, in)} into the unwrapped block. Collective; a no-op file on others.
     */
    public static void exportFull(DistributedModel model, Path file) throws IOException {
        requirePartitioned(model);
        StageContext ctx = model.smp().stageContext();
        if (ctx.dataParallelGroup().rank() != 0) {
            ctx.world().barrier();
            return;
        }
        Communicator pipe = ctx.pipelineGroup();
        ByteArrayOutputStream mine = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(mine)) {
            StageFiles.writeStage(model.localStage(), out);
        }
        byte[][] stages = pipe.allGather(mine.toByteArray());
        if (ctx.rank() == 0) {
            PartitionPlan plan = model.plan();
            List<ModelUnits.Unit> units = ModelUnits.resolve(model.block(), plan.unitNames());
            // Other stages' parameters were released at partitioning: re-create them for the export, free them after.
            List<Parameter> recreated = new ArrayList<>();
            for (int s = 0; s < ctx.ppSize(); s++) {
                // Rank s's chunks (one stage without virtual stages), as it wrote them.
                Block stage = StageBuilder.rankBlock(StageBuilder.chunks(units, plan, s, ctx.ppSize()));
                for (int u = 0; u < units.size(); u++) {
                    if (plan.stageOf(u) % ctx.ppSize() == s && Materializer.released(units.get(u))) {
                        // Zeros, not the initializer (no draw from the engine's random generator): the values arrive.
                        Materializer.zeros(units.get(u), model.manager(), model.unitInputShapes(u));
                        recreated.addAll(Parameters.of(units.get(u).block()));
                    }
                }
                try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(stages[s]))) {
                    StageFiles.apply(stage, StageFiles.readStage(stage, in));
                }
            }
            if (model.isDelayed()) {
                // Every parameter has its values now; DJL's file also records each block's input shapes, which the
                // blocks above the units never learnt (the whole model was never initialised): initialising it now
                // allocates nothing more and sets them.
                model.block().initialize(model.manager(), DataType.FLOAT32, model.unitInputShapes(0));
            }
            try {
                Path tmp = file.resolveSibling(".tmp-" + file.getFileName() + "-" + UUID.randomUUID());
                try (DataOutputStream out = new DataOutputStream(Files.newOutputStream(tmp))) {
                    model.block().saveParameters(out);
                }
                move(tmp, file);
            } finally {
                recreated.forEach(Parameter::close);
            }
        }
        ctx.world().barrier();
    }

    private static void requirePartitioned(DistributedModel model) {
        if (!model.partitioned()) {
            throw new IllegalStateException("the model is partitioned at its first step; save or load after it");
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("the file system of " + to + " cannot rename atomically; checkpoints need it", e);
        }
    }
}
