package io.smp4j.core;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.loss.Loss;
import io.smp4j.pipeline.model.Parameters;
import java.io.DataInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Rank program of the checkpoint test (2 stages x 2 replicas, MLP, manual placement): save after 2 steps, run steps
 * 3-4, crash a later save halfway, resume a model from another seed from the newest complete checkpoint (parameters and
 * SGD momentum) and run steps 3-4 again; then the error cases and the full export. Prints
 * {@code CKPT name OK|FAIL detail} lines.
 */
public final class CheckpointMain {
    private CheckpointMain() {
    }

    static DistributedModel model(Smp smp, NDManager m, long seed) {
        Engine.getInstance().setRandomSeed((int) seed);
        Block b = HybridMain.build("mlp", m, 2);
        if (seed != 77) {
            // A different initial model: resuming must not depend on how the model was created.
            for (Parameter p : Parameters.of(b)) {
                p.getArray().addi(0.5f);
            }
        }
        return new DistributedModel(smp, b, m).place(2, 1).place(3, 1).place(4, 1);
    }

    /** SGD with momentum: optimizer state that a resume must restore. */
    static ai.djl.training.optimizer.Optimizer momentum() {
        return ai.djl.training.optimizer.Optimizer.sgd()
                .setLearningRateTracker(ai.djl.training.tracker.Tracker.fixed(HybridMain.LR)).optMomentum(0.9f).build();
    }

    static NDList[] slice(Smp smp, NDManager m, int step) {
        NDList[] g = HybridMain.globalBatch("mlp", m, step);
        int local = HybridMain.GLOBAL_BATCH / smp.dpSize();
        String range = smp.dpRank() * local + ":" + (smp.dpRank() + 1) * local;
        return new NDList[] {new NDList(g[0].head().get(range)), new NDList(g[1].head().get(range))};
    }

    static float[] train(Smp smp, DistributedModel dm, DistributedOptimizer opt, HybridMain.Trainer t, NDManager m,
                         int step) {
        try (NDManager s = m.newSubManager()) {
            NDList[] b = slice(smp, s, step);
            StepOutput out = smp.step(t, "trainStep", dm, b[0], b[1]);
            opt.step();
            float[] l = new float[out.outputs().size()];
            for (int i = 0; i < l.length; i++) {
                l[i] = out.outputs().get(i).getFloat();
            }
            return l;
        }
    }

    static List<float[]> params(DistributedModel dm) {
        List<float[]> v = new ArrayList<>();
        for (Parameter p : dm.localParameters()) {
            v.add(p.getArray().toFloatArray());
        }
        return v;
    }

    static boolean same(List<float[]> a, List<float[]> b) {
        if (a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            if (!Arrays.equals(a.get(i), b.get(i))) {
                return false;
            }
        }
        return true;
    }

    static void report(Smp smp, String name, boolean ok, String detail) {
        System.out.println("CKPT " + name + " rank=" + smp.rank() + " " + (ok ? "OK" : "FAIL") + " " + detail);
    }

    public static void main(String[] args) {
        Path dir = Path.of(args[0]);
        SmpConfig cfg = SmpConfig.builder().partitions(2).microbatches(2).ddp(true).autoPartition(false).build();
        int code = 0;
        try (Smp smp = Smp.init(cfg); NDManager m = NDManager.newBaseManager()) {
            HybridMain.Trainer t = new HybridMain.Trainer();
            DistributedModel dm = model(smp, m, 77);
            DistributedOptimizer opt = new DistributedOptimizer(dm, momentum());
            train(smp, dm, opt, t, m, 0);
            train(smp, dm, opt, t, m, 1);
            // Only this rank's stage stays allocated.
            int total = Parameters.of(dm.block()).size();
            long live = Parameters.of(dm.block()).stream().filter(Parameter::isInitialized).count();
            boolean releasedOk = live == dm.localParameters().size() && live < total && live > 0;
            report(smp, "released", releasedOk, live + " of " + total + " parameter tensors allocated");
            code |= releasedOk ? 0 : 1;
            Path saved = Checkpoints.save(dm, opt, dir, 2);
            float[] step3 = train(smp, dm, opt, t, m, 2);
            float[] step4 = train(smp, dm, opt, t, m, 3);
            List<float[]> after4 = params(dm);

            // A save of step 3 that crashed halfway: a temporary directory with a truncated file, no manifest.
            if (smp.rank() == 0) {
                Path crashed = dir.resolve(".tmp-step-3-crashed");
                Files.createDirectories(crashed);
                Files.write(crashed.resolve("stage-0.params"), new byte[] {1, 2, 3});
            }
            smp.barrier();

            // Control: without the optimizer's state (momentum) the trajectory departs at the second step.
            DistributedModel fresh = model(smp, m, 5);
            DistributedOptimizer freshOpt = new DistributedOptimizer(fresh, momentum());
            try (NDManager s = m.newSubManager()) {
                fresh.partition(new NDList(slice(smp, s, 0)[0].head().get("0:2")));
            }
            Checkpoints.loadLatest(fresh, dir);
            float[] fresh3 = train(smp, fresh, freshOpt, t, m, 2);
            float[] fresh4 = train(smp, fresh, freshOpt, t, m, 3);
            boolean controlOk = Arrays.equals(step3, fresh3) && !Arrays.equals(step4, fresh4);
            report(smp, "control", controlOk, "without optimizer state: " + Arrays.toString(fresh4) + " vs "
                    + Arrays.toString(step4));
            code |= controlOk ? 0 : 1;

            DistributedModel resumed = model(smp, m, 5);
            DistributedOptimizer opt2 = new DistributedOptimizer(resumed, momentum());
            try (NDManager s = m.newSubManager()) {
                resumed.partition(new NDList(slice(smp, s, 0)[0].head().get("0:2")));
            }
            long step = Checkpoints.loadLatest(resumed, opt2, dir);
            float[] again3 = train(smp, resumed, opt2, t, m, 2);
            float[] again4 = train(smp, resumed, opt2, t, m, 3);
            boolean ok = step == 2 && Arrays.equals(step3, again3) && Arrays.equals(step4, again4)
                    && same(after4, params(resumed));
            report(smp, "resume", ok, "step=" + step + " losses " + Arrays.toString(step3) + Arrays.toString(step4)
                    + " vs " + Arrays.toString(again3) + Arrays.toString(again4));
            code |= ok ? 0 : 1;

            // Optimizer state of another kind of optimizer is refused, on every rank, before anything changes.
            DistributedModel otherOpt = model(smp, m, 5);
            DistributedOptimizer adam = new DistributedOptimizer(otherOpt, ai.djl.training.optimizer.Optimizer.adam()
                    .build());
            try (NDManager s = m.newSubManager()) {
                otherOpt.partition(new NDList(slice(smp, s, 0)[0].head().get("0:2")));
            }
            List<float[]> before = params(otherOpt);
            String wrongOpt = errorOf(() -> Checkpoints.loadLatest(otherOpt, adam, dir));
            boolean wrongOk = wrongOpt.contains("stage-0.optimizer cannot be loaded (truncated, or another "
                    + "optimizer): it holds the state of a ai.djl.training.optimizer.Sgd, this job's optimizer is a "
                    + "ai.djl.training.optimizer.Adam") && same(before, params(otherOpt));
            report(smp, "wrong-optimizer", wrongOk, wrongOpt);
            code |= wrongOk ? 0 : 1;
            List<float[]> afterResume = params(resumed);
            code |= ok ? 0 : 1;

            // A truncated stage file and a checkpoint of another layout are refused with a clear message.
            smp.barrier();
            if (smp.rank() == 0) {
                Path broken = dir.resolve("step-9");
                Files.createDirectories(broken);
                Files.copy(saved.resolve(Checkpoints.MANIFEST), broken.resolve(Checkpoints.MANIFEST));
                byte[] full = Files.readAllBytes(saved.resolve("stage-0.params"));
                Files.write(broken.resolve("stage-0.params"), Arrays.copyOf(full, full.length / 2));
                Files.copy(saved.resolve("stage-1.params"), broken.resolve("stage-1.params"));
                Path corrupt = dir.resolve("step-7");
                Files.createDirectories(corrupt);
                Files.copy(saved.resolve(Checkpoints.MANIFEST), corrupt.resolve(Checkpoints.MANIFEST));
                Files.copy(saved.resolve("stage-0.params"), corrupt.resolve("stage-0.params"));
                byte[] flipped = Files.readAllBytes(saved.resolve("stage-1.params"));
                flipped[flipped.length / 2] ^= 0x10; // one bit of a parameter value
                Files.write(corrupt.resolve("stage-1.params"), flipped);
                Path other = dir.resolve("step-8");
                Files.createDirectories(other);
                Files.writeString(other.resolve(Checkpoints.MANIFEST), Files.readString(saved.resolve(
                        Checkpoints.MANIFEST)).replace("boundaries=[0, 2, 5]", "boundaries=[0, 3, 5]"));
            }
            smp.barrier();
            String truncated = errorOf(() -> Checkpoints.load(resumed, dir.resolve("step-9")));
            // Every rank fails with the message of the rank whose file is bad, and keeps its parameters.
            boolean truncOk = truncated.equals("checkpoint file " + dir.resolve("step-9").resolve("stage-0.params")
                    + " cannot be loaded (truncated or from another model): the file ends early (no checksum trailer)")
                    && same(params(resumed), afterResume);
            report(smp, "truncated", truncOk, truncated);
            code |= truncOk ? 0 : 1;
            // One flipped bit in a value: the checksum catches it (the file parses, the numbers would be wrong).
            String corrupted = errorOf(() -> Checkpoints.load(resumed, dir.resolve("step-7")));
            boolean corruptOk = corrupted.equals("checkpoint file " + dir.resolve("step-7").resolve("stage-1.params")
                    + " cannot be loaded (truncated or from another model): its CRC32C checksum does not match its "
                    + "content (the file is corrupted)") && same(params(resumed), afterResume);
            report(smp, "corrupted", corruptOk, corrupted);
            code |= corruptOk ? 0 : 1;
            String layout = errorOf(() -> Checkpoints.load(resumed, dir.resolve("step-8")));
            boolean layoutOk = layout.startsWith("checkpoint " + dir.resolve("step-8") + " was saved with partitions 2"
                    + " and stage boundaries [0, 3, 5], but this job runs partitions 2 with boundaries [0, 2, 5]");
            report(smp, "layout", layoutOk, layout);
            code |= layoutOk ? 0 : 1;

            // The whole model as one plain DJL file: the unwrapped block gives the distributed model's outputs.
            Path exported = dir.resolve("model.params");
            Checkpoints.exportFull(resumed, exported);
            resumed.eval();
            try (NDManager s = m.newSubManager()) {
                NDList[] b = slice(smp, s, 5);
                StepOutput ev = smp.step(t, "evalStep", resumed, b[0], b[1]);
                boolean exportOk = true;
                if (smp.rank() == 0) {
                    Block plain = HybridMain.build("mlp", s, 2);
                    try (DataInputStream in = new DataInputStream(Files.newInputStream(exported))) {
                        plain.loadParameters(s, in);
                    }
                    ParameterStore ps = new ParameterStore(s, false);
                    Loss loss = Loss.softmaxCrossEntropyLoss();
                    for (int i = 0; i < 2; i++) {
                        NDArray x = b[0].head().get(i * 4 + ":" + (i + 1) * 4);
                        NDArray y = b[1].head().get(i * 4 + ":" + (i + 1) * 4);
                        float l = loss.evaluate(new NDList(y), plain.forward(ps, new NDList(x), false)).getFloat();
                        exportOk &= l == ev.outputs().get(i).getFloat();
                    }
                }
                report(smp, "export", exportOk, "");
                code |= exportOk ? 0 : 1;
            }
        } catch (Exception e) {
            e.printStackTrace(System.out);
            code = 1;
        }
        System.out.flush();
        Runtime.getRuntime().halt(code);
    }

    interface Io {
        void run() throws Exception;
    }

    static String errorOf(Io body) {
        try {
            body.run();
            return "";
        } catch (Exception e) {
            return String.valueOf(e.getMessage());
        }
    }
}
