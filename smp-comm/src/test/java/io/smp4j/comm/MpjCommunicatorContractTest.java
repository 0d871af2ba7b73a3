package io.smp4j.comm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.smp4j.comm.launch.LocalLauncher;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The same contract on MPJ Express niodev: 3 real JVMs on loopback (an odd size, so ring chunks are uneven), all
 * scenarios in one launch, one JUnit test per scenario.
 */
class MpjCommunicatorContractTest {
    static final int NP = 3;
    static String output;
    static int exitCode;

    @BeforeAll
    static void launch() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            exitCode = new LocalLauncher.Builder(NP, ScenarioMain.class.getName())
                    .jvmArgs(List.of("-Xmx256m", "-Dsmp.comm.timeout.s=" + TestSupport.timeoutSeconds()))
                    .output(out)
                    .build()
                    .run();
        }
        output = bytes.toString(StandardCharsets.UTF_8);
        java.nio.file.Files.writeString(java.nio.file.Path.of("target", "mpj-contract.log"), output);
    }

    @TestFactory
    Stream<DynamicTest> contract() {
        return Stream.concat(
                CommunicatorContract.scenarios().keySet().stream().map(name -> DynamicTest.dynamicTest(name, () -> {
                    for (int r = 0; r < NP; r++) {
                        assertTrue(output.contains("[rank " + r + "] SCENARIO " + name + " OK"),
                                "rank " + r + " did not pass " + name + "; output:\n" + output);
                    }
                })),
                Stream.of(DynamicTest.dynamicTest("every rank exits 0", () ->
                        assertEquals(0, exitCode, "launcher exit code; output:\n" + output))));
    }
}
