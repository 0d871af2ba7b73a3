package io.smp4j.examples.gpt;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import io.smp4j.core.Checkpoints;
import io.smp4j.core.DistributedModel;
import io.smp4j.core.DistributedOptimizer;
import io.smp4j.core.Smp;
import io.smp4j.core.SmpConfig;
import io.smp4j.core.StepOutput;
import io.smp4j.pipeline.model.SeededInit;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One rank of a small gpt run for {@link GptEquivalenceTest}: {@code STEPS} Adam steps on a fixed text with a given
 * layout, precision and initialisation; world rank 0 prints every microbatch loss (as float bits) and exports the whole
 * trained model to {@code OUT}, so that two layouts compare bitwise.
 *
 * <p>Arguments: out partitions microbatches pipeline init(delayed|eager) precision(fp32|fp16) steps [budgetMb].
 * With {@code -Dsmp.test.moving=true} the run starts from a lopsided plan (stage 0 = the embeddings only) and
 * re-partitions from measured times after step 2: whole transformer blocks move between ranks that never held them.
 * {@code -Dsmp.test.flat=false} turns {@code flat_parameters} off; {@code -Dsmp.test.scaling=INITIAL,WINDOW} sets fp16's
 * loss scaling (default 1024,2).
 */
public final class GptEquivalenceMain {
    static final Gpt.Config SHAPE = new Gpt.Config(4, 32, 2, 16, 256);
    static final int GLOBAL_BATCH = 8;

    private GptEquivalenceMain() {
    }

    public static void main(String[] args) {
        Path out = Path.of(args[0]);
        int p = Integer.parseInt(args[1]);
        int m = Integer.parseInt(args[2]);
        boolean delayed = args[4].equals("delayed");
        int steps = Integer.parseInt(args[6]);
        boolean moving = Boolean.getBoolean("smp.test.moving");
        SmpConfig.Builder b = SmpConfig.builder().partitions(p).microbatches(m).pipeline(args[3]).ddp(true)
                .fp16(args[5].equals("fp16")).repartitionSteps(moving ? 2 : 0).repartitionThreshold(0)
                .flatParameters(!"false".equals(System.getProperty("smp.test.flat")));
        String[] scaling = System.getProperty("smp.test.scaling", "1024,2").split(",");
        if (args.length > 7) {
            b.memoryBudgetMb(Double.parseDouble(args[7]));
        }
        int code = 0;
        try (Smp smp = Smp.init(b.build()); NDManager manager = NDManager.newBaseManager(smp.device())) {
            int rows = GLOBAL_BATCH / smp.dpSize();
            Block gpt = Gpt.build(SHAPE);
            DistributedModel model;
            if (delayed) {
                model = DistributedModel.delayed(smp, gpt, manager, 5);
            } else {
                SeededInit.apply(gpt, 5);
                gpt.initialize(manager, DataType.FLOAT32, new Shape(rows / m, SHAPE.seqLen()));
                model = new DistributedModel(smp, gpt, manager);
            }
            if (moving) {
                int n = io.smp4j.pipeline.model.ModelUnits.of(gpt, p).size();
                model.placeByBoundaries(new int[] {0, 1, n});
            }
            DistributedOptimizer opt = new DistributedOptimizer(model,
                    Optimizer.adam().optLearningRateTracker(Tracker.fixed(0.01f)).build(),
                    new DistributedOptimizer.LossScaling(Float.parseFloat(scaling[0]), Integer.parseInt(scaling[1]), 1f));
            TextCorpus text = TextCorpus.open(null);
            GptSteps body = new GptSteps();
            StringBuilder losses = new StringBuilder();
            for (int s = 0; s < steps; s++) {
                try (NDManager scope = manager.newSubManager()) {
                    NDList[] batch = text.batch(scope, 3, s, GLOBAL_BATCH, smp.dpRank() * rows, rows, SHAPE.seqLen());
                    StepOutput o = smp.step(body, "trainStep", model, batch[0], batch[1]);
                    for (float l : o.stack().toFloatArray()) {
                        losses.append(Integer.toHexString(Float.floatToIntBits(l))).append(',');
                    }
                    opt.step();
                }
            }
            Checkpoints.exportFull(model, out);
            System.out.println("GPTEQ rank=" + smp.rank() + " replica=" + smp.dpRank() + " losses=" + losses
                    + " scale=" + opt.lossScale() + " skipped=" + opt.skippedSteps() + " boundaries="
                    + java.util.Arrays.toString(model.plan().boundaries()));
        } catch (IllegalArgumentException e) {
            System.out.println("GPTEQ-REFUSED rank=" + args.length + " " + e.getMessage());
            code = 2;
        } catch (Exception | Error e) {
            e.printStackTrace();
            code = 1;
        }
        System.out.flush();
        Runtime.getRuntime().halt(code);
    }
}
