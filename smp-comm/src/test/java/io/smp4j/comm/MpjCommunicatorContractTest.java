package io.smp4j.comm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.smp4j.comm.launch.LocalLauncher;
import io.smp4j.comm.socket.HostSockets;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The same contract on real processes: 3 JVMs on this host (an odd size, so chunks are uneven), all scenarios in one
 * launch per all-reduce algorithm (auto = shared memory for large buffers, ring for all sizes, shared memory for all
 * sizes), one JUnit test per scenario. Messages between the ranks go through the host's Unix domain sockets, and
 * once more ({@code ring-mpj}) through MPJ Express niodev only, the path of ranks on different hosts.
 */
class MpjCommunicatorContractTest {
    static final int NP = 3;
    static final String[] ALGORITHMS = {"auto", "ring", "shm", "ring-mpj"};
    static final String[] OUTPUT = new String[ALGORITHMS.length];
    static final int[] EXIT = new int[ALGORITHMS.length];

    @BeforeAll
    static void launch() throws Exception {
        for (int a = 0; a < ALGORITHMS.length; a++) {
            TestSupport.Result r = TestSupport.run(new LocalLauncher.Builder(NP, ScenarioMain.class.getName())
                    .jvmArgs(List.of("-Xmx256m", "-Dsmp.comm.timeout.s=" + TestSupport.timeoutSeconds(),
                            "-D" + CommOptions.ALLREDUCE_PROPERTY + "=" + ALGORITHMS[a].replace("-mpj", ""),
                            "-D" + HostSockets.PROPERTY + "=" + !ALGORITHMS[a].endsWith("-mpj"))));
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
