package io.smp4j.examples.gpt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import io.smp4j.comm.TestSupport;
import io.smp4j.comm.launch.LocalLauncher;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The gpt example's transformer trained through the user API on real processes: delayed initialisation equals the
 * model initialised whole, pipelines of both schedules and P x D hybrids equal one process (every microbatch loss and
 * every trained parameter, bitwise, as exported by {@code Checkpoints.exportFull}), fp16 pipelines equal fp16 on one
 * process, and a memory budget refuses a model that does not fit one rank while 4 stages train within it.
 */
class GptEquivalenceTest {
    @TempDir
    Path dir;

    record Run(String losses, byte[] model, String output) {
    }

    private Run run(int np, int p, int m, String pipeline, String init, String precision, String... extra)
            throws Exception {
        return run(3, false, np, p, m, pipeline, init, precision, extra);
    }

    private Run run(int steps, boolean moving, int np, int p, int m, String pipeline, String init, String precision,
                    String... extra) throws Exception {
        return run(steps, List.of("-Dsmp.test.moving=" + moving), np, p, m, pipeline, init, precision, extra);
    }

    /** {@code props}: the ranks' system properties ({@link GptEquivalenceMain}'s switches). */
    private Run run(int steps, List<String> props, int np, int p, int m, String pipeline, String init,
                    String precision, String... extra) throws Exception {
        Engine.getInstance();
        Path out = dir.resolve("w" + np + "p" + p + "m" + m + pipeline + init + precision + steps
                + String.join("", props).replaceAll("[^A-Za-z0-9]", "") + ".params");
        List<String> args = new ArrayList<>(List.of(out.toString(), "" + p, "" + m, pipeline, init, precision,
                "" + steps));
        args.addAll(List.of(extra));
        List<String> jvm = new ArrayList<>(List.of("-Xmx1g", "-Dai.djl.pytorch.num_threads=1",
                "-Dai.djl.pytorch.num_interop_threads=1", "-Dsmp.comm.timeout.s=120"));
        jvm.addAll(props);
        TestSupport.Result r = TestSupport.run(new LocalLauncher.Builder(np, GptEquivalenceMain.class.getName())
                .args(args).jvmArgs(jvm));
        Files.writeString(Path.of("target", "gpt-" + out.getFileName() + extra.length + ".log"), r.output());
        if (r.output().contains("GPTEQ-REFUSED")) {
            return new Run(null, null, r.output());
        }
        assertEquals(0, r.code(), r.output());
        Matcher l = Pattern.compile("GPTEQ rank=0 replica=0 losses=(\\S+)").matcher(r.output());
        assertTrue(l.find(), r.output());
        return new Run(l.group(1), Files.readAllBytes(out), r.output());
    }

    private static void assertSame(Run expected, Run actual) {
        assertEquals(expected.losses(), actual.losses(), actual.output());
        assertArrayEquals(expected.model(), actual.model(), "exported parameters differ\n" + actual.output());
    }

    @Test
    void delayedInitialisationEqualsTheModelInitialisedWhole() throws Exception {
        Run whole = run(1, 1, 2, "simple", "eager", "fp32");
        assertSame(whole, run(1, 1, 2, "simple", "delayed", "fp32"));
        Run split = run(2, 2, 2, "simple", "delayed", "fp32");
        assertSame(whole, split);
        // Delayed initialisation allocated only the rank's own stage: half the transformer each.
        for (int r = 0; r < 2; r++) {
            assertTrue(split.output().contains("rank " + r + ": delayed initialisation materialised"), split.output());
        }
    }

    @Test
    void pipelinesOfBothSchedulesEqualOneProcess() throws Exception {
        Run one = run(1, 1, 4, "interleaved", "delayed", "fp32");
        assertSame(one, run(2, 2, 4, "interleaved", "delayed", "fp32"));
        assertSame(one, run(4, 4, 4, "simple", "delayed", "fp32"));
    }

    /** Two replicas of two stages equal two replicas of one stage: the replicas' sum is the same either way. */
    @Test
    void hybridEqualsDataParallelOfWholeModels() throws Exception {
        assertSame(run(2, 1, 2, "interleaved", "delayed", "fp32"), run(4, 2, 2, "interleaved", "delayed", "fp32"));
    }

    /**
     * Re-partitioning a model of delayed initialisation: from a lopsided plan, transformer blocks move to the rank
     * that never held them (their parameters and Adam state travel; nothing is initialised afresh there), and the run
     * still equals one process bitwise.
     */
    @Test
    void delayedModelRepartitionsAndStillEqualsOneProcess() throws Exception {
        Run moving = run(6, true, 2, 2, 4, "interleaved", "delayed", "fp32");
        assertTrue(moving.output().contains("re-partitioned:"), moving.output());
        Matcher b = Pattern.compile("GPTEQ rank=0 .* boundaries=\\[0, (\\d+), ").matcher(moving.output());
        assertTrue(b.find() && Integer.parseInt(b.group(1)) > 1, moving.output());
        assertSame(run(6, false, 1, 1, 4, "interleaved", "delayed", "fp32"), moving);
    }

    /**
     * fp16 (half-precision parameters, activations and stage messages; fp32 masters; loss scaling) through pipelines
     * and a hybrid equals fp16 on one process, bitwise; and it trains as fp32 does, to within 1% of its losses.
     */
    @Test
    void fp16PipelinesEqualFp16OnOneProcess() throws Exception {
        Run one = run(1, 1, 4, "interleaved", "delayed", "fp16");
        assertSame(one, run(2, 2, 4, "interleaved", "delayed", "fp16"));
        assertSame(one, run(4, 4, 4, "simple", "delayed", "fp16"));
        assertSame(run(2, 1, 2, "interleaved", "delayed", "fp16"), run(4, 2, 2, "interleaved", "delayed", "fp16"));
        assertTrue(one.output().contains("skipped=0"), one.output());
        String[] half = one.losses().split(",");
        String[] full = run(1, 1, 4, "interleaved", "delayed", "fp32").losses().split(",");
        assertEquals(full.length, half.length);
        for (int i = 0; i < full.length; i++) {
            float a = Float.intBitsToFloat(Integer.parseUnsignedInt(half[i], 16));
            float e = Float.intBitsToFloat(Integer.parseUnsignedInt(full[i], 16));
            assertTrue(Math.abs(a - e) < 0.01 * e, "microbatch loss " + i + ": fp16 " + a + ", fp32 " + e);
        }
    }

    /**
     * fp16 with flat masters (after the first update: one cast a step for the half-precision copies, one flat fp32
     * gradient for the update) equals fp16 parameter by parameter, bitwise, on one process and on two stages; also
     * through steps skipped for overflow (a scale doubled after every good step overflows after a few).
     */
    @Test
    void fp16WithFlatMastersEqualsFp16ParameterByParameter() throws Exception {
        Run flat = run(1, 1, 4, "interleaved", "delayed", "fp16");
        assertTrue(flat.output().contains("half-precision copies cast from them"), flat.output());
        Run byParameter = run(3, List.of("-Dsmp.test.flat=false"), 1, 1, 4, "interleaved", "delayed", "fp16");
        assertFalse(byParameter.output().contains("flat parameters:"), byParameter.output());
        assertSame(flat, byParameter);
        List<String> growing = List.of("-Dsmp.test.scaling=16384,1");
        Run skipping = run(6, growing, 2, 2, 2, "interleaved", "delayed", "fp16");
        Matcher skipped = Pattern.compile("GPTEQ rank=0 .* skipped=(\\d+)").matcher(skipping.output());
        assertTrue(skipped.find() && Integer.parseInt(skipped.group(1)) > 0, skipping.output());
        assertTrue(skipping.output().contains("half-precision copies cast from them"), skipping.output());
        assertSame(run(6, List.of("-Dsmp.test.scaling=16384,1", "-Dsmp.test.flat=false"), 2, 2, 2, "interleaved",
                "delayed", "fp16"), skipping);
    }

    @Test
    void aModelOverItsBudgetIsRefusedAndTrainsSplit() throws Exception {
        // The whole model with Adam (4 x its parameter bytes) needs about 1.6 MB; a quarter of it (and its
        // activations) fits 0.8 MB.
        Run refused = run(1, 1, 2, "simple", "delayed", "fp32", "0.8");
        Matcher m = Pattern.compile("the model does not fit in 1 stage within the memory budget: stage 0 \\(units "
                + "0\\.\\.\\d+ of \\d+\\) needs (\\S+) MB \\(4 x \\S+ MB of parameters for weights, gradients and "
                + "optimizer state \\+ \\d+ microbatches of activations\\), its budget is 0\\.8 MB")
                .matcher(refused.output());
        assertTrue(m.find(), refused.output());
        assertTrue(Double.parseDouble(m.group(1)) > 0.8, m.group());
        Run split = run(4, 4, 2, "simple", "delayed", "fp32", "0.8");
        assertSame(run(1, 1, 2, "simple", "delayed", "fp32"), split);
    }
}
