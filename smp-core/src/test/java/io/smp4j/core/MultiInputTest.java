package io.smp4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import io.smp4j.comm.TestSupport;
import io.smp4j.comm.launch.LocalLauncher;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A model with three inputs (two float, one int64) whose stages pass several arrays of mixed types, one unit per
 * stage on 4 processes (and two units per stage on 2): losses and parameters equal to one process bitwise (the same
 * kernels in the same order), and a missing input refused on every rank with a message naming the unit.
 */
class MultiInputTest {
    @ParameterizedTest(name = "{0} stages, {1}")
    @CsvSource({"4, interleaved", "2, simple"})
    void severalInputsAndMixedTypesCrossTheStages(int stages, String pipeline) throws Exception {
        Engine.getInstance();
        TestSupport.Result run = TestSupport.run(new LocalLauncher.Builder(stages, MultiInputMain.class.getName())
                .args(List.of("" + stages, pipeline))
                .jvmArgs(List.of("-Xmx512m", "-Dai.djl.pytorch.num_threads=1", "-Dsmp.comm.timeout.s=60")));
        String out = run.output();
        assertEquals(0, run.code(), out);
        out.lines().filter(l -> l.contains("MULTI") || l.contains("MISSING rank=0")).forEach(System.out::println);
        Matcher m = Pattern.compile("MULTI rank=(\\d) stage=(\\d) units=.* tensors=(\\d+) paramDiff=(\\S+) "
                + "lossDiff=(\\S+) (OK|FAIL)").matcher(out);
        int ranks = 0;
        int tensors = 0;
        while (m.find()) {
            ranks++;
            tensors += Integer.parseInt(m.group(3));
            assertEquals("OK", m.group(6), m.group());
        }
        assertEquals(stages, ranks, out);
        assertEquals(8, tensors, "the stages compared all 8 parameter tensors (A, B, C, Linear: weight + bias)");
        long refused = out.lines().filter(l -> l.contains("MISSING rank=") && l.contains("unit 0 (01TwoTower) cannot "
                + "take the model input, [float32 (2, 6), float32 (2, 4)]: ")).count();
        assertEquals(stages, refused, out);
        assertTrue(out.lines().noneMatch(l -> l.contains("MISSING") && l.contains("FAIL")), out);
    }
}
