package io.smp4j.core;

import ai.djl.basicmodelzoo.cv.classification.ResNetV1;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.XavierInitializer;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import io.smp4j.pipeline.Microbatches;
import io.smp4j.pipeline.model.ModelUnits;
import io.smp4j.pipeline.model.Parameters;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Rank program of the hybrid-parallel proof, through the user API: {@code HybridMain MODEL PARTITIONS MICROBATCHES
 * PIPELINE PLACEMENT [steps [PROCESSES_PER_GPU [TOLERANCE]]]}. Trains steps steps (default 3) with
 * Smp/DistributedModel/@Step/DistributedOptimizer on {@code smp.device()}, then replays in this process the
 * single-process reference over the same global batch as the same microbatches, and prints
 * {@code HYBRID ... maxRelParamDiff=... maxRelLossDiff=... OK|FAIL} over the trainable parameters and every
 * microbatch loss; OK means at most TOLERANCE (default 0: bitwise). With a ninth argument {@code calibrated} (GPUs,
 * whose cuDNN backward is nondeterministic) a second reference is trained as a control, and OK means: first-step losses
 * within TOLERANCE, and |mine - ref| / |ref - initial| over this rank's parameters (updateRelDiff) at most
 * CONTROL_FACTOR times the control's (controlUpdateRelDiff), or CONTROL_FLOOR.
 */
public final class HybridMain {
    static int steps = 3;
    static final int GLOBAL_BATCH = 16;
    static final float LR = 0.05f;
    /** Calibrated mode: the pipeline may deviate from the reference by at most this many times the control. */
    public static final double CONTROL_FACTOR = 10;
    /** ... or by this much of the update, when the control happens to come out (nearly) exact. */
    public static final double CONTROL_FLOOR = 1e-6;

    /** The user's code: exactly what a README training step looks like. */
    public static final class Trainer {
        private final Loss loss = Loss.softmaxCrossEntropyLoss();

        @Step
        public NDArray trainStep(DistributedModel model, NDList images, NDList labels) {
            NDList out = model.forward(images);
            NDArray l = loss.evaluate(labels, out);
            model.backward(l);
            return l;
        }

        @Step
        public NDList evalStep(DistributedModel model, NDList images, NDList labels) {
            NDList out = model.forward(images);
            // Two values per microbatch: the loss and the logits (two StepOutputs, as SageMaker returns a tuple).
            return new NDList(loss.evaluate(labels, out), out.head());
        }
    }

    private HybridMain() {
    }

    static Block build(String model, NDManager m, int rows) {
        Engine.getInstance().setRandomSeed(77);
        Block b = model.equals("resnet18")
                ? ResNetV1.builder().setImageShape(new Shape(3, 32, 32)).setNumLayers(18).setOutSize(10).build()
                : new SequentialBlock().add(Linear.builder().setUnits(48).build()).add(Activation::relu)
                .add(Linear.builder().setUnits(32).build()).add(Activation::tanh)
                .add(Linear.builder().setUnits(10).build());
        b.setInitializer(new XavierInitializer(), Parameter.Type.WEIGHT);
        b.initialize(m, DataType.FLOAT32, shape(model, rows));
        return b;
    }

    static Shape shape(String model, int rows) {
        return model.equals("resnet18") ? new Shape(rows, 3, 32, 32) : new Shape(rows, 20);
    }

    /** Step s's global batch: depends only on the seed, never on the layout. */
    static NDList[] globalBatch(String model, NDManager m, int s) {
        Random rnd = new Random(99 + s);
        Shape xs = shape(model, GLOBAL_BATCH);
        float[] x = new float[(int) xs.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        float[] y = new float[GLOBAL_BATCH];
        for (int i = 0; i < y.length; i++) {
            y[i] = rnd.nextInt(10);
        }
        return new NDList[] {new NDList(m.create(x, xs)), new NDList(m.create(y, new Shape(GLOBAL_BATCH)))};
    }

    /**
     * Two stages over the model's finest units, the boundary inside a unit: the shareable unit with parameters
     * nearest the middle is stage 0's last, and stage 1 runs it for the first {@code k} microbatches of each step.
     */
    static void placeWithSharedUnit(Smp smp, DistributedModel dm, int k) {
        List<ModelUnits.Unit> leaves = new ArrayList<>();
        for (ModelUnits.Unit u : ModelUnits.of(dm.block(), 2)) {
            leaves.addAll(ModelUnits.splitFully(u));
        }
        boolean[] ok = io.smp4j.core.stage.LentUnits.shareable(leaves);
        int n = leaves.size();
        int pick = -1;
        for (int i = 1; i + 1 < n; i++) {
            if (ok[i] && !Parameters.of(leaves.get(i).block()).isEmpty()
                    && (pick < 0 || Math.abs(i - n / 2) < Math.abs(pick - n / 2))) {
                pick = i;
            }
        }
        if (pick < 0) {
            throw new IllegalStateException("no unit to share among " + n);
        }
        dm.placeByPlan(leaves.stream().map(ModelUnits.Unit::name).toList(), new int[] {0, pick + 1, n},
                new int[] {0, k, 0});
        System.out.println("SHARED rank=" + smp.rank() + " unit=" + pick + " of " + n + " ("
                + leaves.get(pick).name() + ") microbatches=" + k);
    }

    static Optimizer sgd() {
        return Optimizer.sgd().setLearningRateTracker(Tracker.fixed(LR)).build();
    }

    /**
     * Adds this rank's share of three squared norms: |mine - ref|^2, |control - ref|^2 and |ref - initial|^2 (the
     * update). Their ratios compare the pipeline's and the control's deviation with what the steps changed.
     */
    static void accumulate(double[] sums, List<Parameter> mine, List<Parameter> ref, List<Parameter> initial,
            List<Parameter> control) {
        for (int i = 0; i < ref.size(); i++) {
            float[] x = mine.get(i).getArray().toFloatArray();
            float[] y = ref.get(i).getArray().toFloatArray();
            float[] w0 = initial.get(i).getArray().toFloatArray();
            float[] z = control.get(i).getArray().toFloatArray();
            for (int e = 0; e < y.length; e++) {
                sums[0] += (double) (x[e] - y[e]) * (x[e] - y[e]);
                sums[1] += (double) (z[e] - y[e]) * (z[e] - y[e]);
                sums[2] += (double) (y[e] - w0[e]) * (y[e] - w0[e]);
            }
        }
    }

    /** The single-process reference run and its microbatch losses. */
    static final class Reference {
        final Block block;
        final float[][] losses;

        private Reference(Block block, float[][] losses) {
            this.block = block;
            this.losses = losses;
        }

        static Reference train(String model, NDManager manager, int d, int m, int local) {
            Block ref = build(model, manager, local / m);
            Optimizer refOpt = sgd();
            ParameterStore ps = new ParameterStore(manager, false);
            Loss loss = Loss.softmaxCrossEntropyLoss();
            List<Parameter> refParams = new ArrayList<>();
            for (Parameter p : Parameters.of(ref)) {
                if (p.requiresGradient()) {
                    refParams.add(p);
                }
            }
            float[][] refLosses = new float[steps][d * m];
            for (int s = 0; s < steps; s++) {
                try (NDManager step = manager.newSubManager()) {
                    NDList[] g = globalBatch(model, step, s);
                    List<NDList> xs = Microbatches.split(g[0], d * m, 0);
                    List<NDList> ys = Microbatches.split(g[1], d * m, 0);
                    float[][] sum = new float[refParams.size()][];
                    for (int r = 0; r < d; r++) {
                        Parameters.zeroGradients(ref);
                        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                            for (int i = r * m; i < (r + 1) * m; i++) {
                                NDArray l = loss.evaluate(ys.get(i), ref.forward(ps, xs.get(i), true));
                                refLosses[s][i] = l.getFloat();
                                try (NDArray scale = step.create(1f / m)) {
                                    gc.backward(l.mul(scale));
                                }
                            }
                        }
                        for (int k = 0; k < refParams.size(); k++) {
                            float[] gr = refParams.get(k).getArray().getGradient().toFloatArray();
                            if (sum[k] == null) {
                                sum[k] = gr;
                            } else {
                                for (int e = 0; e < gr.length; e++) {
                                    sum[k][e] += gr[e];
                                }
                            }
                        }
                    }
                    for (int k = 0; k < refParams.size(); k++) {
                        NDArray w = refParams.get(k).getArray();
                        for (int e = 0; e < sum[k].length; e++) {
                            sum[k][e] *= 1.0f / d;
                        }
                        NDArray grad = w.getGradient();
                        try (NDArray avg = step.create(sum[k], grad.getShape())) {
                            grad.subi(grad).addi(avg);
                        }
                        refOpt.update(refParams.get(k).getId(), w, grad);
                    }
                }
            }
            return new Reference(ref, refLosses);
        }
    }

    public static void main(String[] args) {
        String model = args[0];
        steps = args.length > 5 ? Integer.parseInt(args[5]) : 3;
        double tolerance = args.length > 7 ? Double.parseDouble(args[7]) : 0;
        boolean calibrated = args.length > 8 && args[8].equals("calibrated");
        SmpConfig cfg = SmpConfig.builder().partitions(Integer.parseInt(args[1]))
                .microbatches(Integer.parseInt(args[2])).pipeline(args[3]).placementStrategy(args[4]).ddp(true)
                .optimize("speed").processesPerGpu(args.length > 6 ? Integer.parseInt(args[6]) : 1)
                .activationCheckpointing(Boolean.getBoolean("smp.test.checkpointing"))
                .virtualStages(Integer.getInteger("smp.test.virtual", 1))
                .overlapAllReduce(!"false".equals(System.getProperty("smp.test.overlap")))
                .bucketCapMb(Double.parseDouble(System.getProperty("smp.test.bucketMb", "4")))
                // Equivalence needs the same convolution algorithms in both runs: benchmark mode picks by timing.
                .cudnnBenchmark(false).scheduleFile(System.getProperty("smp.test.scheduleFile", "")).build();
        int code = 0;
        try (Smp smp = Smp.init(cfg); NDManager manager = NDManager.newBaseManager(smp.device())) {
            int d = smp.dpSize();
            int m = cfg.microbatches();
            int local = GLOBAL_BATCH / d;
            Trainer trainer = new Trainer();
            DistributedModel dm = new DistributedModel(smp, build(model, manager, local / m), manager);
            int sharedMicrobatches = Integer.getInteger("smp.test.shared", 0);
            if (sharedMicrobatches > 0) {
                placeWithSharedUnit(smp, dm, sharedMicrobatches);
            }
            DistributedOptimizer opt = new DistributedOptimizer(dm, sgd());
            float[][] losses = new float[steps][];
            for (int s = 0; s < steps; s++) {
                try (NDManager step = manager.newSubManager()) {
                    NDList[] g = globalBatch(model, step, s);
                    // Data-parallel replica r takes the r-th contiguous slice of the global batch.
                    NDList x = new NDList(g[0].head().get(smp.dpRank() * local + ":" + (smp.dpRank() + 1) * local));
                    NDList y = new NDList(g[1].head().get(smp.dpRank() * local + ":" + (smp.dpRank() + 1) * local));
                    StepOutput out = smp.step(trainer, "trainStep", dm, x, y);
                    losses[s] = new float[out.outputs().size()];
                    for (int i = 0; i < losses[s].length; i++) {
                        losses[s][i] = out.outputs().get(i).getFloat();
                    }
                    opt.step();
                }
            }
            DistributedOptimizer.StepTimes t = opt.lastStepTimes();
            System.out.printf(Locale.ROOT, "OVERLAP rank=%d buckets=%d overlappedMs=%.2f exposedMs=%.2f%n",
                    smp.rank(), t.buckets(), t.overlappedAllReduceMillis(), t.allReduceMillis());

            // A forward-only step (evaluation) on a fresh batch, after training.
            float[] evalLosses;
            dm.eval();
            try (NDManager step = manager.newSubManager()) {
                NDList[] g = globalBatch(model, step, steps);
                NDList x = new NDList(g[0].head().get(smp.dpRank() * local + ":" + (smp.dpRank() + 1) * local));
                NDList y = new NDList(g[1].head().get(smp.dpRank() * local + ":" + (smp.dpRank() + 1) * local));
                StepOutput out = smp.step(trainer, "evalStep", dm, x, y);
                evalLosses = new float[out.outputs().size()];
                for (int i = 0; i < evalLosses.length; i++) {
                    evalLosses[i] = out.outputs().get(i).getFloat();
                }
                // The second value: every microbatch's logits, joined back into this replica's batch.
                NDArray logits = out.value(1).concat();
                if (out.valueCount() != 2 || logits.getShape().get(0) != local) {
                    throw new IllegalStateException("evaluation step returned " + out.valueCount()
                            + " values, logits " + logits.getShape() + " for a batch of " + local);
                }
            }
            dm.train();

            // The reference: one process, the whole global batch as the same D x M microbatches. It sums in the
            // distributed run's order (each replica's M microbatches scaled by 1/M, then the replicas' gradients
            // averaged), so that float re-association, which chaotic training amplifies, is not what is compared.
            Reference ref = Reference.train(model, manager, d, m, local);
            // On a GPU, cuDNN's backward kernels are not deterministic (DJL cannot ask for its deterministic
            // algorithms): a second identical reference measures that noise, the control the pipeline is held to.
            Reference control = calibrated ? Reference.train(model, manager, d, m, local) : null;
            Block initial = build(model, manager, local / m);
            ParameterStore ps = new ParameterStore(manager, false);
            Loss loss = Loss.softmaxCrossEntropyLoss();
            float[][] refLosses = ref.losses;

            double evalDiff = 0;
            try (NDManager step = manager.newSubManager()) {
                NDList[] g = globalBatch(model, step, steps);
                List<NDList> xs = Microbatches.split(g[0], d * m, 0);
                List<NDList> ys = Microbatches.split(g[1], d * m, 0);
                for (int i = 0; i < m; i++) {
                    int k = smp.dpRank() * m + i;
                    float r = loss.evaluate(ys.get(k), ref.block.forward(ps, xs.get(k), false)).getFloat();
                    evalDiff = Math.max(evalDiff, Math.abs(evalLosses[i] - r) / Math.max(1e-12, Math.abs(r)));
                }
            }
            // With BatchNorm, evaluation uses running statistics, which are per replica: compare only without it.
            if (model.equals("resnet18")) {
                evalDiff = 0;
            }

            List<ModelUnits.Unit> refUnits = ModelUnits.resolve(ref.block, dm.plan().unitNames());
            List<ModelUnits.Unit> initUnits = ModelUnits.resolve(initial, dm.plan().unitNames());
            List<ModelUnits.Unit> controlUnits = control == null ? null : ModelUnits.resolve(control.block,
                    dm.plan().unitNames());
            double[] update = new double[3];
            List<ModelUnits.Unit> units = ModelUnits.resolve(dm.block(), dm.plan().unitNames());
            double maxRel = 0;
            int tensors = 0;
            for (int u = 0; u < units.size(); u++) {
                if (dm.plan().stageOf(u) % smp.ppSize() != smp.ppRank()) {
                    continue; // another rank's unit (with virtual stages, a rank runs several stages)
                }
                // BatchNorm running statistics are per-replica buffers under data parallelism: trainable only.
                List<Parameter> a = Parameters.of(units.get(u).block()).stream().filter(Parameter::requiresGradient)
                        .toList();
                List<Parameter> b = Parameters.of(refUnits.get(u).block()).stream()
                        .filter(Parameter::requiresGradient).toList();
                maxRel = Math.max(maxRel, Parameters.maxRelativeDifference(a, b));
                tensors += a.size();
                if (smp.dpSize() == 1) {
                    // One replica sees the microbatches in the reference's order: its running statistics must match
                    // too (activation checkpointing must not update them twice).
                    List<Parameter> ra = Parameters.of(units.get(u).block()).stream()
                            .filter(p -> !p.requiresGradient()).toList();
                    List<Parameter> rb = Parameters.of(refUnits.get(u).block()).stream()
                            .filter(p -> !p.requiresGradient()).toList();
                    maxRel = Math.max(maxRel, Parameters.maxRelativeDifference(ra, rb));
                }
                List<Parameter> c = Parameters.of(initUnits.get(u).block()).stream()
                        .filter(Parameter::requiresGradient).toList();
                List<Parameter> k = controlUnits == null ? b : Parameters.of(controlUnits.get(u).block()).stream()
                        .filter(Parameter::requiresGradient).toList();
                accumulate(update, a, b, c, k);
            }
            // Calibrated: only the first step's losses come from identical parameters; later ones carry the noise.
            double lossDiff = 0;
            for (int s = 0; s < (calibrated ? 1 : steps); s++) {
                for (int i = 0; i < m; i++) {
                    float r = refLosses[s][smp.dpRank() * m + i];
                    lossDiff = Math.max(lossDiff, Math.abs(losses[s][i] - r) / Math.max(1e-12, Math.abs(r)));
                }
            }
            double updateDiff = Math.sqrt(update[0] / Math.max(1e-30, update[2]));
            double controlDiff = Math.sqrt(update[1] / Math.max(1e-30, update[2]));
            boolean close = calibrated
                    ? updateDiff <= Math.max(CONTROL_FLOOR, CONTROL_FACTOR * controlDiff) && lossDiff <= tolerance
                    : maxRel <= tolerance && lossDiff <= tolerance;
            boolean ok = close && evalDiff <= tolerance && evalLosses.length == m && tensors > 0;
            System.out.printf(Locale.ROOT, "HYBRID model=%s device=%s W=%d P=%d D=%d M=%d pipeline=%s placement=%s "
                            + "rank=%d stage=%d replica=%d tensors=%d maxRelParamDiff=%.3g maxRelLossDiff=%.3g "
                            + "evalLossDiff=%.3g updateRelDiff=%.3g controlUpdateRelDiff=%.3g %s%n", model, smp.device(),
                    smp.size(), smp.ppSize(), d, m, cfg.pipeline(), cfg.placementStrategy(), smp.rank(), smp.ppRank(),
                    smp.dpRank(), tensors, maxRel, lossDiff, evalDiff, updateDiff, controlDiff, ok ? "OK" : "FAIL");
            code = ok ? 0 : 1;
        } catch (RuntimeException e) {
            e.printStackTrace(System.out);
            code = 1;
        }
        System.out.flush();
        Runtime.getRuntime().halt(code);
    }
}
