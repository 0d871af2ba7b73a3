package io.smp4j.pipeline.exec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import io.smp4j.comm.TestSupport;
import io.smp4j.comm.launch.LocalLauncher;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The proof that pipelining changes nothing: P real MPJ processes, 3 SGD steps, every parameter of every stage and
 * every microbatch loss bitwise equal to the unsplit model trained on the same microbatches in one process, for M = 4
 * and 8 and both schedules, 1F1B running ahead (its last stage slowed down, so that the first runs forwards early).
 * Exact, not within a tolerance: a stage runs the same kernels on the same shapes in the same
 * order (same thread count) as the unsplit model, so any difference is a bug, not rounding.
 */
class PipelineEquivalenceTest {
    @BeforeAll
    static void extractLibtorchOnce() {
        // The first use unpacks libtorch into the DJL cache; do it here, not in P processes at once.
        Engine.getInstance();
    }

    @ParameterizedTest(name = "{0} on {1} stages ({2} parameter tensors)")
    @CsvSource({"mlp, 2, 8", "mlp, 4, 8", "resnet18, 2, 159", "resnet18, 4, 159"})
    void pipelinedTrainingEqualsUnsplitTraining(String model, int stages, int parameterTensors) throws Exception {
        TestSupport.Result run = TestSupport.run(new LocalLauncher.Builder(stages, EquivalenceMain.class.getName())
                .args(List.of(model))
                .jvmArgs(List.of("-Xmx1g", "-Dai.djl.pytorch.num_threads=1",
                        "-Dai.djl.pytorch.num_interop_threads=1", "-Dsmp.comm.timeout.s=120")));
        int code = run.code();
        String output = run.output();
        Files.writeString(Path.of("target", "equivalence-" + model + "-p" + stages + ".log"), output);
        assertEquals(0, code, output);
        Pattern line = Pattern.compile("EQUIV model=" + model + " P=" + stages
                + " M=(\\d) pipeline=(\\w+) stage=(\\d) tensors=(\\d+) maxRelParamDiff=(\\S+) maxRelLossDiff=(\\S+)"
                + " lastLoss=\\S+ (OK|FAIL) order=(\\S+)");
        Matcher m = line.matcher(output);
        int found = 0;
        java.util.Map<String, Integer> tensorsPerConfig = new java.util.HashMap<>();
        while (m.find()) {
            found++;
            assertEquals(0.0, Double.parseDouble(m.group(5)), m.group());
            assertEquals(0.0, Double.parseDouble(m.group(6)), m.group());
            assertEquals("OK", m.group(7));
            // Run-ahead (1F1B only, its last stage slowed down): stage 0 ran forwards early (where its warm-up did
            // not already hold every microbatch), within active_microbatches, forwards and backwards each in their
            // own order; nothing else changes the order.
            String order = m.group(8);
            if (m.group(2).equals("1f1b") && m.group(3).equals("0") && Integer.parseInt(m.group(1)) > stages) {
                assertTrue(order.startsWith("ran-ahead:"), m.group());
            } else if (m.group(2).equals("gpipe") || m.group(3).equals(String.valueOf(stages - 1))) {
                assertEquals("schedule", order, m.group());
            } else {
                assertTrue(order.equals("schedule") || order.startsWith("ran-ahead:"), m.group());
            }
            tensorsPerConfig.merge(m.group(1) + m.group(2), Integer.parseInt(m.group(4)), Integer::sum);
        }
        assertEquals(stages * 4, found, "one result per stage for M in {4, 8} x 2 schedules; output:\n" + output);
        // Not vacuous: over the stages, every parameter tensor of the model was compared.
        for (Map.Entry<String, Integer> e : tensorsPerConfig.entrySet()) {
            assertEquals(parameterTensors, e.getValue(), "tensors compared in " + e.getKey());
        }
    }
}
