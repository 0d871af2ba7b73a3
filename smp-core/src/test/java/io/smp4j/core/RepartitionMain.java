package io.smp4j.core;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import io.smp4j.pipeline.partition.PartitionPlan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.zip.CRC32;

/**
 * Rank program of the re-partitioning test: ResNet18 (batch norm, SGD with momentum), 2 stages, 4 microbatches, 6
 * steps. {@code moving DIR}: starts from a lopsided plan (stage 0 = the first unit only) with repartition_steps 2 and
 * threshold 0, so the plan changes after step 2; saves a checkpoint at the end and writes the plan in force to
 * DIR/plan.txt. {@code fixed DIR}: starts from DIR/plan.txt with re-partitioning off. Both print {@code LOSSES ...}
 * (every microbatch loss of every step, exact bits) and {@code PARAMS rank=R crc=...} (this rank's parameters and
 * momentum at the end).
 */
public final class RepartitionMain {
    static final int STEPS = 6;

    private RepartitionMain() {
    }

    public static void main(String[] args) throws Exception {
        boolean moving = args[0].equals("moving");
        Path dir = Path.of(args[1]);
        SmpConfig cfg = SmpConfig.builder().partitions(2).microbatches(4).ddp(true)
                .repartitionSteps(moving ? 2 : 0).repartitionThreshold(0).build();
        int code = 0;
        try (Smp smp = Smp.init(cfg); NDManager m = NDManager.newBaseManager()) {
            DistributedModel dm = new DistributedModel(smp, HybridMain.build("resnet18", m, 4), m);
            int[] initial;
            if (moving) {
                int units = io.smp4j.pipeline.model.ModelUnits.of(dm.block(), 2).size();
                initial = new int[] {0, 1, units};
                dm.placeByBoundaries(initial);
            } else {
                List<String> lines = Files.readAllLines(dir.resolve("plan.txt"));
                initial = ints(lines.get(0));
                dm.placeByPlan(List.of(lines.get(1).split("\t")), initial);
            }
            DistributedOptimizer opt = new DistributedOptimizer(dm, CheckpointMain.momentum());
            String losses = trainLosses(smp, dm, opt, m, STEPS, (step, s) -> HybridMain.globalBatch("resnet18",
                    step, s));
            PartitionPlan plan = dm.plan();
            System.out.println("LOSSES rank=" + smp.rank() + " " + losses);
            System.out.println("PLAN rank=" + smp.rank() + " initial=" + Arrays.toString(initial).replace(" ", "")
                    + " final=" + Arrays.toString(plan.boundaries()).replace(" ", "") + " how=" + plan.how().replace(' ', '_'));
            System.out.println(paramsLine(smp, dm, opt));
            if (moving) {
                Path saved = Checkpoints.save(dm, opt, dir.resolve("ckpt"), STEPS);
                if (smp.rank() == 0) {
                    Properties manifest = new Properties();
                    try (var in = Files.newInputStream(saved.resolve("manifest.properties"))) {
                        manifest.load(in);
                    }
                    System.out.println("MANIFEST boundaries=" + manifest.getProperty("boundaries").replace(" ", ""));
                    Files.writeString(dir.resolve("plan.txt"), join(plan.boundaries()) + "\n"
                            + String.join("\t", plan.unitNames()) + "\n");
                }
                smp.barrier();
            }
        } catch (RuntimeException e) {
            e.printStackTrace(System.out);
            code = 1;
        }
        System.out.flush();
        Runtime.getRuntime().halt(code);
    }

    /** {@code PARAMS rank=R tensors=N momentum=K crc=C}: this rank's own parameters and their momentum, exact bits. */
    static String paramsLine(Smp smp, DistributedModel dm, DistributedOptimizer opt) {
        CRC32 crc = new CRC32();
        List<Parameter> params = new ArrayList<>(dm.localParameters());
        var state = io.smp4j.pipeline.djl.DjlInternals.optimizerState(opt.optimizer());
        int withState = 0;
        for (Parameter p : params) {
            for (float v : p.getArray().toFloatArray()) {
                crc.update(Float.floatToRawIntBits(v));
            }
        }
        for (Parameter p : params) {
            for (var field : state.values()) {
                var perDevice = field.get(p.getId());
                if (perDevice != null) {
                    withState++;
                    for (var a : perDevice.values()) {
                        for (float v : a.toFloatArray()) {
                            crc.update(Float.floatToRawIntBits(v));
                        }
                    }
                }
            }
        }
        return "PARAMS rank=" + smp.rank() + " tensors=" + params.size() + " momentum=" + withState + " crc="
                + Long.toHexString(crc.getValue());
    }

    /** Trains {@code steps} steps on {@code batch}'s (images, labels); every microbatch loss, exact bits, in order. */
    static String trainLosses(Smp smp, DistributedModel dm, DistributedOptimizer opt, NDManager m, int steps,
                              java.util.function.BiFunction<NDManager, Integer, NDList[]> batch) {
        HybridMain.Trainer t = new HybridMain.Trainer();
        StringBuilder losses = new StringBuilder();
        for (int s = 0; s < steps; s++) {
            try (NDManager step = m.newSubManager()) {
                NDList[] b = batch.apply(step, s);
                StepOutput out = smp.step(t, "trainStep", dm, b[0], b[1]);
                opt.step();
                for (int i = 0; i < out.outputs().size(); i++) {
                    losses.append(Integer.toHexString(Float.floatToRawIntBits(out.outputs().get(i).getFloat())))
                            .append(' ');
                }
            }
        }
        return losses.toString().trim();
    }

    /** {@code 0,19,39}: a plan file's line of boundaries (or shared counts). */
    static String join(int[] v) {
        return Arrays.stream(v).mapToObj(Integer::toString).reduce((a, c) -> a + "," + c).orElseThrow();
    }

    /** The inverse of {@link #join}. */
    static int[] ints(String line) {
        return Arrays.stream(line.split(",")).mapToInt(Integer::parseInt).toArray();
    }
}
