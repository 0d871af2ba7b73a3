package io.smp4j.comm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.smp4j.comm.launch.LocalLauncher;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The same contract on MPJ Express niodev: 3 real JVMs on loopback (an odd size, so chunks are uneven), all
 * scenarios in one launch per all-reduce algorithm (auto = shared memory for large buffers, ring for all sizes,
 * shared memory for all sizes), one JUnit test per scenario.
 */
class MpjCommunicatorContractTest {
    static final int NP = 3;
    static final String[] ALGORITHMS = {"auto", "ring", "shm"};
    static final String[] OUTPUT = new String[ALGORITHMS.length];
    static final int[] EXIT = new int[ALGORITHMS.length];

    @BeforeAll
    static void launch() throws Exception {
        for (int a = 0; a < ALGORITHMS.length; a++) {
            TestSupport.Result r = TestSupport.run(new LocalLauncher.Builder(NP, ScenarioMain.class.getName())
                    .jvmArgs(List.of("-Xmx256m", "-Dsmp.comm.timeout.s=" + TestSupport.timeoutSeconds(),
                            "-D" + CommOptions.ALLREDUCE_PROPERTY + "=" + ALGORITHMS[a])));
            EXIT[a] = r.code();
            OUTPUT[a] = r.output();
            java.nio.file.Files.writeString(java.nio.file.Path.of("target", "mpj-contract-" + ALGORITHMS[a] + ".log"),
                    OUTPUT[a]);
        }
    }

    @TestFactory
    Stream<DynamicTest> contract() {
        return java.util.stream.IntStream.range(0, ALGORITHMS.length).boxed().flatMap(a -> Stream.concat(
                CommunicatorContract.scenarios().keySet().stream().map(name ->
                        DynamicTest.dynamicTest(name + " (" + ALGORITHMS[a] + ")", () -> {
                            for (int r = 0; r < NP; r++) {
                                assertTrue(OUTPUT[a].contains("[rank " + r + "] SCENARIO " + name + " OK"),
                                        "rank " + r + " did not pass " + name + "; output:\n" + OUTPUT[a]);
                            }
                        })),
                Stream.of(DynamicTest.dynamicTest("every rank exits 0 (" + ALGORITHMS[a] + ")", () ->
                        assertEquals(0, EXIT[a], "launcher exit code; output:\n" + OUTPUT[a])))));
    }
}
