package io.smp4j.examples.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import com.google.gson.GsonBuilder;
import io.smp4j.comm.ReduceOp;
import io.smp4j.core.DistributedModel;
import io.smp4j.core.DistributedOptimizer;
import io.smp4j.core.Smp;
import io.smp4j.core.SmpConfig;
import io.smp4j.core.Step;
import io.smp4j.core.Timeline;
import io.smp4j.core.TimelineWriter;
import io.smp4j.examples.cli.CommandLines;
import io.smp4j.examples.support.ProcessMemory;
import io.smp4j.pipeline.Stats;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Rank program of the training benchmarks: synthetic data (made once, so that only training is timed), a ResNet18,
 * SGD, steps through {@code @Step} with the given smp config on all ranks: per step wall time, and from the timeline
 * each rank's compute (forward + backward) time and all-reduce time; peak resident memory per rank. Rank 0 writes the
 * result as JSON to {@code --out}. ({@link OverheadBench} compares with a plain DJL loop, with these options.)
 */
public final class TrainBench {
    /** The step body. */
    public static final class Body {
        private final Loss loss = Loss.softmaxCrossEntropyLoss();

        @Step
        public NDArray train(DistributedModel model, NDList x, NDList y) {
            NDArray l = loss.evaluate(y, model.forward(x));
            model.backward(l);
            return l;
        }
    }

    private TrainBench() {
    }

    /** The benchmark's options; the JSON result repeats them (as they were given, by option name). */
    @Command(name = "trainbench", description = "Training benchmark rank program (see ./smp bench).")
    static final class Options {
        @Option(names = "--model", paramLabel = "NAME", description = "resnet18 or djl-resnet18 (default ${DEFAULT-VALUE})")
        String model = "resnet18";
        @Option(names = "--image-size", converter = CommandLines.Positive.class)
        int imageSize = 64;
        @Option(names = "--batch-size", converter = CommandLines.Positive.class)
        int batchSize = 32;
        @Option(names = "--steps", converter = CommandLines.Positive.class)
        int steps = 12;
        @Option(names = "--warmup", converter = CommandLines.NonNegative.class)
        int warmup = 3;
        @Option(names = "--observed-steps", converter = CommandLines.NonNegative.class, description = "0: the timed "
                + "steps are also observed (per-rank compute, busy shares, trace); N: they run unobserved and whole (no "
                + "wait for the device between the pipeline and the update), then N more steps are observed (default 0)")
        int observedSteps;
        @Option(names = "--partitions", converter = CommandLines.Positive.class)
        int partitions = 1;
        @Option(names = "--microbatches", converter = CommandLines.Positive.class)
        int microbatches = 1;
        @Option(names = "--pipeline")
        String pipeline = "interleaved";
        @Option(names = "--ddp", arity = "1")
        boolean ddp;
        @Option(names = "--optimize")
        String optimize = "memory";
        @Option(names = "--memory-weight", description = "memory_weight (default: optimize's)")
        Double memoryWeight;
        @Option(names = "--repartition-steps", converter = CommandLines.NonNegative.class,
                description = "repartition_steps (default ${DEFAULT-VALUE}; 0: keep the first plan)")
        int repartitionSteps = 5;
        @Option(names = "--repartition-threshold", description = "repartition_threshold (default: smp's)")
        Double repartitionThreshold;
        @Option(names = "--virtual-stages", converter = CommandLines.Positive.class)
        int virtualStages = 1;
        @Option(names = "--processes-per-gpu", converter = CommandLines.Positive.class)
        int processesPerGpu = 1;
        @Option(names = "--overlap-allreduce", arity = "1")
        boolean overlapAllReduce = true;
        @Option(names = "--bucket-cap-mb")
        double bucketCapMb = 4;
        @Option(names = "--activation-checkpointing")
        boolean activationCheckpointing;
        @Option(names = "--active-microbatches", description = "active_microbatches (default: partitions + 2)")
        Integer activeMicrobatches;
        @Option(names = "--rounds", converter = CommandLines.Positive.class)
        int rounds = 4;
        @Option(names = "--flat-parameters", arity = "1", description = "flat_parameters (default ${DEFAULT-VALUE})")
        boolean flatParameters = true;
        @Option(names = "--cudnn-benchmark", arity = "1", description = "cudnn_benchmark (default ${DEFAULT-VALUE})")
        boolean cudnnBenchmark;
        @Option(names = "--cuda-profile", description = "overhead bench: one more step (smp, djl) in a CUDA profiler range")
        String cudaProfile = "";
        @Option(names = "--trace", paramLabel = "FILE", description = "also write the timed steps' timeline (Chrome "
                + "trace; an SVG picture beside it)")
        String trace = "";
        @Option(names = "--out", paramLabel = "FILE")
        String out = "";
        @Option(names = {"-h", "--help"}, usageHelp = true)
        boolean help;

        /** Every option but trace, out and help, by name without its dashes, as text ("" when unset). */
        Map<String, Object> asMap() throws IllegalAccessException {
            Map<String, Object> m = new LinkedHashMap<>();
            for (java.lang.reflect.Field f : Options.class.getDeclaredFields()) {
                Option opt = f.getAnnotation(Option.class);
                String name = opt == null ? "" : opt.names()[0].replaceFirst("^-+", "");
                if (!name.isEmpty() && !List.of("trace", "out", "h").contains(name)) {
                    m.put(name, f.get(this) == null ? "" : String.valueOf(f.get(this)));
                }
            }
            return m;
        }
    }

    public static void main(String[] args) throws Exception {
        Options o = CommandLines.parseOrExit(new Options(), args, "trainbench");
        write(smp(o), o.out);
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }

    /** Writes {@code result} as JSON to {@code file} (nothing when either is empty: ranks other than 0). */
    static void write(Map<String, Object> result, String file) throws IOException {
        if (result != null && !file.isEmpty()) {
            Files.writeString(Path.of(file), new GsonBuilder().setPrettyPrinting().create().toJson(result));
        }
    }

    static NDList[] data(NDManager m, Options o, int batch) {
        Engine.getInstance().setRandomSeed(11);
        int s = o.imageSize;
        NDArray x = m.randomNormal(new Shape(batch, 3, s, s));
        NDArray y = m.randomInteger(0, 10, new Shape(batch), DataType.INT64);
        return new NDList[] {new NDList(x), new NDList(y)};
    }

    static Optimizer sgd() {
        return Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.01f)).optMomentum(0.9f).build();
    }

    /** Pipeline / data-parallel run: rank 0 returns the result, others null. */
    static Map<String, Object> smp(Options o) throws Exception {
        SmpConfig.Builder cb = SmpConfig.builder().partitions(o.partitions).microbatches(o.microbatches)
                .pipeline(o.pipeline).ddp(o.ddp).optimize(o.optimize).processesPerGpu(o.processesPerGpu)
                .activationCheckpointing(o.activationCheckpointing).repartitionSteps(o.repartitionSteps)
                .virtualStages(o.virtualStages).overlapAllReduce(o.overlapAllReduce).bucketCapMb(o.bucketCapMb)
                .flatParameters(o.flatParameters).cudnnBenchmark(o.cudnnBenchmark);
        Optional.ofNullable(o.memoryWeight).ifPresent(cb::memoryWeight);
        Optional.ofNullable(o.repartitionThreshold).ifPresent(cb::repartitionThreshold);
        Optional.ofNullable(o.activeMicrobatches).ifPresent(cb::activeMicrobatches);
        SmpConfig cfg = cb.build();
        int steps = o.steps, warmup = o.warmup;
        try (Smp smp = Smp.init(cfg); NDManager m = NDManager.newBaseManager(smp.device())) {
            int batch = o.batchSize;
            int s = o.imageSize;
            Engine.getInstance().setRandomSeed(5);
            Block net = ResNets.build(o.model, s, 10);
            net.initialize(m, DataType.FLOAT32, new Shape(batch / cfg.microbatches(), 3, s, s));
            DistributedModel dm = new DistributedModel(smp, net, m);
            DistributedOptimizer opt = new DistributedOptimizer(dm, sgd());
            NDList[] d = data(m, o, batch);
            Body body = new Body();
            Timeline timeline = smp.startTimeline();
            double[] wall = new double[steps], pipe = new double[steps]; // step time, and the pipeline's part
            int firstObserved = o.observedSteps > 0 ? warmup + steps : warmup;
            double[] observedPipe = new double[o.observedSteps > 0 ? o.observedSteps : steps];
            List<String> plans = new ArrayList<>();
            double[] copy = new double[steps], comm = new double[steps]; // gradient copies, and the all-reduce itself
            double[] overlapped = new double[steps], hidden = new double[steps];
            int buckets = 0;
            double rssBefore = 0;
            for (int step = 0; step < warmup + steps + o.observedSteps; step++) {
                if (step == warmup) {
                    rssBefore = ProcessMemory.resetPeakRss();
                }
                smp.synchronize();
                smp.barrier(); // every step starts together: wall time is the slowest rank's
                timeline.setStep(step);
                timeline.setRecording(step >= firstObserved);
                long t0 = System.nanoTime();
                smp.step(body, "train", dm, d[0], d[1]);
                if (o.observedSteps == 0 || step >= firstObserved) {
                    smp.synchronize(); // the pipeline's part (else timed steps are not cut in two)
                }
                long tp = System.nanoTime();
                opt.step();
                smp.synchronize(); // the step's kernels, not their launches
                long t1 = System.nanoTime();
                String plan = BenchRuns.describePlan(dm.plan(), cfg.microbatches());
                if (plans.isEmpty() || !plans.get(plans.size() - 1).endsWith(plan)) {
                    plans.add("after step " + (step + 1) + ": " + plan);
                }
                if (step >= firstObserved) {
                    observedPipe[step - firstObserved] = (tp - t0) / 1e6;
                }
                if (step >= warmup && step < warmup + steps) {
                    pipe[step - warmup] = (tp - t0) / 1e6;
                    wall[step - warmup] = (t1 - t0) / 1e6;
                    copy[step - warmup] = opt.lastStepTimes().copyMillis();
                    comm[step - warmup] = opt.lastStepTimes().allReduceMillis();
                    overlapped[step - warmup] = opt.lastStepTimes().overlappedAllReduceMillis();
                    hidden[step - warmup] = opt.lastStepTimes().hiddenFraction();
                    buckets = opt.lastStepTimes().buckets();
                }
            }
            if (!o.trace.isEmpty()) {
                List<Timeline.Event> events = timeline.gather(smp.world());
                if (smp.rank() == 0) {
                    TimelineWriter.chromeTrace(events, smp.rankNames(), Path.of(o.trace));
                    TimelineWriter.svg(events, smp.rankNames(), o.model + ", " + smp.ppSize() + " stages, "
                            + cfg.pipeline() + ", M=" + cfg.microbatches(), Path.of(o.trace.replaceAll("\\.json$", "")
                            + ".svg"));
                }
            }
            // Per rank: compute and all-reduce ms per step (median over steps, like the wall time), median wall, peak
            // RSS. Sends: device -> host, checksum, posting; receives: waiting, checksum, host -> device (per message).
            Map<Long, Double> computeByStep = new TreeMap<>();
            Map<Long, Double> allReduceByStep = new TreeMap<>();
            double send = 0;
            double recv = 0;
            int sends = 0;
            int recvs = 0;
            for (Timeline.Event e : timeline.events()) {
                double ms = e.durationMicros() / 1e3;
                switch (e.kind()) {
                    case FORWARD, BACKWARD -> computeByStep.merge(e.step(), ms, Double::sum);
                    case ALL_REDUCE -> allReduceByStep.merge(e.step(), ms, Double::sum);
                    case SEND -> {
                        send += ms;
                        sends++;
                    }
                    case RECV -> {
                        recv += ms;
                        recvs++;
                    }
                    default -> {
                    }
                }
            }
            double compute = Stats.median(new ArrayList<>(computeByStep.values())); // 0 when none
            double allReduce = Stats.median(new ArrayList<>(allReduceByStep.values()));
            double[] pipeline = o.observedSteps > 0 ? observedPipe : pipe; // where the pipeline's part was timed
            float[] mine = {(float) compute, (float) allReduce, (float) Stats.median(wall),
                    (float) Stats.median(pipeline), (float) ProcessMemory.peakRssMb(), (float) rssBefore,
                    (float) Stats.median(copy), (float) Stats.median(comm), (float) (sends == 0 ? 0 : send / sends),
                    (float) (recvs == 0 ? 0 : recv / recvs), (float) Stats.median(overlapped),
                    (float) Stats.median(hidden), buckets};
            if (mine.length != BenchRuns.RANK_SLOTS.length) {
                throw new IllegalStateException("a rank's slots and their names differ in number");
            }
            // Then per observed step: compute, pipeline time (for busy shares).
            float[] all = BenchRuns.slots(mine, computeByStep, firstObserved, observedPipe, smp.rank(),
                    smp.size());
            final int w = all.length / smp.size();
            smp.world().allReduce(all, ReduceOp.SUM);
            if (smp.rank() != 0) {
                return null;
            }
            Map<String, Object> r = o.asMap();
            r.put("world_size", smp.size());
            r.put("dp_size", smp.dpSize());
            double med = 0;
            List<Map<String, Object>> ranks = new ArrayList<>();
            for (int k = 0; k < smp.size(); k++) {
                Map<String, Object> rk = BenchRuns.rankRow(all, w, k, observedPipe.length, smp.size());
                ranks.add(rk);
                med = Math.max(med, all[w * k + 2]);
            }
            r.put("ranks", ranks);
            r.put("median_step_ms", med);
            r.put("samples_per_second", batch * smp.dpSize() / (med / 1e3));
            r.put("step_ms", wall);
            r.put("pipeline_ms", pipeline);
            r.put("plans", plans);
            r.put("final_plan", dm.plan().table());
            return r;
        }
    }
}
