package io.smp4j.pipeline.exec;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.loss.Loss;
import io.smp4j.comm.Communicator;
import io.smp4j.comm.launch.Bootstrap;
import io.smp4j.pipeline.Microbatches;
import io.smp4j.pipeline.model.ModelUnits;
import io.smp4j.pipeline.schedule.Schedule;
import io.smp4j.pipeline.schedule.Schedules;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Rank program of the memory test: a 2-stage pipeline trains a wide MLP for {@code STEPS} steps and prints this
 * process's resident memory (after a GC) at step {@code WARM} and at the end: {@code RSS warm=... end=... KB}.
 * With an argument N it runs N steps and also prints RSS every 100 steps.
 */
public final class MemoryMain {
    static final int STEPS = 800;
    /** Resident memory rises for the first ~300 steps (JIT, allocator arenas, heap up to -Xmx), then is flat. */
    static final int WARM = 400;

    private MemoryMain() {
    }

    static long rssKb() throws Exception {
        System.gc();
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }

    public static void main(String[] args) throws Exception {
        int code = 0;
        try (Communicator world = Bootstrap.init(); NDManager manager = NDManager.newBaseManager()) {
            Engine.getInstance().setRandomSeed(5);
            Block model = new SequentialBlock()
                    .add(Linear.builder().setUnits(1024).build()).add(Activation::relu)
                    .add(Linear.builder().setUnits(1024).build()).add(Activation::relu)
                    .add(Linear.builder().setUnits(10).build());
            model.initialize(manager, DataType.FLOAT32, new Shape(16, 256));
            List<ModelUnits.Unit> units = ModelUnits.of(model, 2);
            int r = world.rank();
            Block stage = ModelUnits.stage(units, r == 0 ? 0 : 2, r == 0 ? 2 : units.size());
            PipelineExecutor exec = new PipelineExecutor(stage, r, 2, world, manager, "stage " + r);
            Schedule schedule = Schedules.oneForwardOneBackward(2, 4);
            Loss loss = Loss.softmaxCrossEntropyLoss();
            long warm = 0;
            int warmArrays = 0;
            int steps = args.length > 0 ? Integer.parseInt(args[0]) : STEPS;
            for (int s = 1; s <= steps; s++) {
                try (NDManager step = manager.newSubManager()) {
                    NDList[] b = {new NDList(step.randomNormal(new Shape(64, 256))),
                        new NDList(step.randomInteger(0, 10, new Shape(64), DataType.FLOAT32))};
                    TrainSteps.trainStep(exec, schedule, Microbatches.split(b[0], 4, 0), Microbatches.split(b[1], 4, 0),
                            loss, 0.25f);
                }
                if (s == WARM) {
                    warm = rssKb();
                    warmArrays = manager.getManagedArrays().size();
                }
                if (args.length > 0 && s % 100 == 0) {
                    System.out.println("RSS-TRACE rank=" + r + " step=" + s + " " + rssKb() + " KB");
                }
            }
            System.out.println("RSS rank=" + r + " warm=" + warm + " end=" + rssKb() + " KB arrays " + warmArrays + " -> "
                    + manager.getManagedArrays().size());
        } catch (RuntimeException e) {
            e.printStackTrace(System.out);
            code = 1;
        }
        System.out.flush();
        Runtime.getRuntime().halt(code);
    }
}
