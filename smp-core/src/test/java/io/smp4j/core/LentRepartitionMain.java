package io.smp4j.core;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import io.smp4j.pipeline.partition.PartitionPlan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Rank program of the test that re-partitions into a boundary inside a unit: three equal wide linear layers and a
 * small head on 2 stages, 8 microbatches; whole units split the work 1 : 2 at best, sharing the middle layer for
 * about half the microbatches balances it. {@code moving DIR}: starts with stage 0 = the first layer, re-partitioning
 * every 2 steps with threshold 0; writes the plan in force at the end to DIR/plan.txt (boundaries, lent counts,
 * unit names). {@code fixed DIR}: starts with that plan, re-partitioning off. Both print {@code LOSSES ...} (exact
 * bits), {@code PLAN ...} and {@code PARAMS rank=R crc=...} (this rank's own parameters and momentum at the end).
 */
public final class LentRepartitionMain {
    /**
     * Steps to train: the re-partitioner decides from measured times and wants two checks in a row to agree, so a run
     * needs room for a noisy first check (warm-up) and its backoff (seen on a loaded machine: 12 were too few).
     */
    static final int STEPS = 20;
    static final int WIDTH = 1024;
    static final int BATCH = 64;

    private LentRepartitionMain() {
    }

    static Block model(NDManager m) {
        Engine.getInstance().setRandomSeed(31);
        SequentialBlock b = new SequentialBlock();
        for (int i = 0; i < 3; i++) {
            b.add(Linear.builder().setUnits(WIDTH).build());
        }
        b.add(Linear.builder().setUnits(10).build());
        b.initialize(m, DataType.FLOAT32, new Shape(BATCH / 8, WIDTH));
        return b;
    }

    static NDList[] batch(NDManager m, int step) {
        Random r = new Random(1000 + step);
        float[] x = new float[BATCH * WIDTH];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian() * 0.1f;
        }
        float[] y = new float[BATCH];
        for (int i = 0; i < y.length; i++) {
            y[i] = r.nextInt(10);
        }
        return new NDList[] {new NDList(m.create(x, new Shape(BATCH, WIDTH))), new NDList(m.create(y,
                new Shape(BATCH)))};
    }

    public static void main(String[] args) throws Exception {
        boolean moving = args[0].equals("moving");
        Path dir = Path.of(args[1]);
        SmpConfig cfg = SmpConfig.builder().partitions(2).microbatches(8).optimize("speed").memoryWeight(0)
                .repartitionSteps(moving ? 2 : 0).repartitionThreshold(0).build();
        int code = 0;
        try (Smp smp = Smp.init(cfg); NDManager m = NDManager.newBaseManager()) {
            DistributedModel dm = new DistributedModel(smp, model(m), m);
            if (moving) {
                dm.placeByBoundaries(new int[] {0, 1, 4});
            } else {
                List<String> lines = Files.readAllLines(dir.resolve("plan.txt"));
                dm.placeByPlan(List.of(lines.get(2).split("\t")), RepartitionMain.ints(lines.get(0)),
                        RepartitionMain.ints(lines.get(1)));
            }
            DistributedOptimizer opt = new DistributedOptimizer(dm, CheckpointMain.momentum());
            String losses = RepartitionMain.trainLosses(smp, dm, opt, m, STEPS, LentRepartitionMain::batch);
            PartitionPlan plan = dm.plan();
            System.out.println("LOSSES rank=" + smp.rank() + " " + losses);
            System.out.println("PLAN rank=" + smp.rank() + " final=" + Arrays.toString(plan.boundaries())
                    .replace(" ", "") + " lent=" + Arrays.toString(plan.lent()).replace(" ", ""));
            System.out.println(RepartitionMain.paramsLine(smp, dm, opt));
            if (moving && smp.rank() == 0) {
                Files.writeString(dir.resolve("plan.txt"), RepartitionMain.join(plan.boundaries()) + "\n"
                        + RepartitionMain.join(plan.lent()) + "\n" + String.join("\t", plan.unitNames()) + "\n");
            }
            smp.barrier();
        } catch (RuntimeException e) {
            e.printStackTrace(System.out);
            code = 1;
        }
        System.out.flush();
        Runtime.getRuntime().halt(code);
    }
}
