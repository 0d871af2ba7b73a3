package io.smp4j.comm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.smp4j.comm.launch.LocalLauncher;
import java.io.File;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** MPJ Express is not on Maven Central: when it is missing from a job's class path, the error says how to fix it. */
class MpjMissingTest {
    @Test
    void aJobWithoutMpjSaysHowToGetIt() throws Exception {
        String cp = Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                .filter(e -> !e.contains("mpj")).collect(Collectors.joining(File.pathSeparator));
        TestSupport.Result run = TestSupport.run(new LocalLauncher.Builder(2, ScenarioMain.class.getName())
                .classpath(cp).stopOthersOnFailure(false).args(List.of("barrierWaitsForTheLastRank")).jvmArgs(List.of("-Dsmp.comm.timeout.s=10")));
        assertTrue(run.code() != 0, run.output());
        String expected = "MPJ Express (mpj.jar) is not on the class path (class mpi.MPI not found), and a job of 2 "
                + "processes needs it. With Maven, depend on io.smp4j:smp-core (it brings mpjexpress:mpj and "
                + "ch.qos.reload4j:reload4j) after putting MPJ's jar into your local repository once: ./smp setup does "
                + "it from Debian's libmpj-java (apt-get install libmpj-java) or from $MPJ_HOME/lib/mpj.jar";
        assertEquals(2, run.output().lines().filter(l -> l.contains(expected)).count(), run.output());
    }
}
