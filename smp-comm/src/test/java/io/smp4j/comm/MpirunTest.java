package io.smp4j.comm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The contract under Debian's Open MPI {@code mpirun -np 2}: each process bootstraps itself from
 * OMPI_COMM_WORLD_*, rank 0 serves the port exchange at MASTER_ADDR:MASTER_PORT. {@code ./smp setup} installs
 * openmpi-bin, so a missing mpirun is a failure, not a skip.
 */
class MpirunTest {
    @Test
    void contractUnderOpenMpiMpirun() throws Exception {
        assertEquals(true, Files.isExecutable(Path.of("/usr/bin/mpirun")),
                "mpirun not found: run ./smp setup (installs openmpi-bin)");
        int port = TestSupport.freePort();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = List.of("mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "2",
                "-x", "MASTER_ADDR=127.0.0.1", "-x", "MASTER_PORT=" + port, "-x", "SMP_JOB_TOKEN=mpirun-test-secret",
                java, "-Xmx256m", "-Dsmp.comm.timeout.s=" + TestSupport.timeoutSeconds(),
                "-cp", System.getProperty("java.class.path"), ScenarioMain.class.getName());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        TestSupport.clearLaunchVariables(pb.environment());
        Process p = pb.start();
        String out;
        try {
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("mpirun did not finish in 120 s");
            }
        } finally {
            out = readAll(p);
        }
        assertEquals(0, p.exitValue(), out);
        for (String name : CommunicatorContract.scenarios().keySet()) {
            long oks = out.lines().filter(l -> l.equals("SCENARIO " + name + " OK")).count();
            assertEquals(2, oks, name + " passed on " + oks + " of 2 ranks; output:\n" + out);
        }
    }

    private static String readAll(Process p) throws IOException {
        return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }
}
