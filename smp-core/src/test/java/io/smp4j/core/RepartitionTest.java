package io.smp4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
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
 * Re-partitioning from measured stage times, on real processes: a run that starts lopsided and re-partitions after
 * step 2 (parameters, batch-norm statistics and momentum moving between the ranks) gives every microbatch loss of
 * every step, and ends with parameters and momentum, bitwise equal to a run that started with the plan it ended with;
 * its checkpoint records that plan.
 */
class RepartitionTest {
    static TestSupport.Result run(String mode, Path dir) throws Exception {
        return run(RepartitionMain.class, mode, dir, "repartition-" + mode + ".log");
    }

    static TestSupport.Result run(Class<?> main, String mode, Path dir, String log) throws Exception {
        TestSupport.Result r = TestSupport.run(new LocalLauncher.Builder(2, main.getName())
                .args(List.of(mode, dir.toString()))
                .jvmArgs(List.of("-Xmx1g", "-Dai.djl.pytorch.num_threads=1",
                        "-Dai.djl.pytorch.num_interop_threads=1", "-Dsmp.comm.timeout.s=120")));
        Files.writeString(Path.of("target", log), r.output());
        assertEquals(0, r.code(), r.output());
        return r;
    }

    static List<String> lines(String output, String prefix) {
        List<String> out = new ArrayList<>();
        Matcher m = Pattern.compile("^(?:\\[rank \\d\\] )?(" + prefix + " rank=\\d .*)$", Pattern.MULTILINE)
                .matcher(output);
        while (m.find()) {
            out.add(m.group(1).trim());
        }
        out.sort(null);
        return out;
    }

    @Test
    void aRunThatRepartitionsEqualsOneThatStartedWithTheFinalPlan(@TempDir Path dir) throws Exception {
        Engine.getInstance();
        String moving = run("moving", dir).output();
        assertTrue(moving.contains("re-partitioned:"), "the lopsided plan must change:\n" + moving);
        Matcher plan = Pattern.compile("PLAN rank=0 initial=(\\S+) final=(\\S+) how=(\\S+)").matcher(moving);
        assertTrue(plan.find(), moving);
        assertNotEquals(plan.group(1), plan.group(2));
        assertTrue(plan.group(3).contains("re-partitioned"), plan.group());
        Matcher manifest = Pattern.compile("MANIFEST boundaries=(\\S+)").matcher(moving);
        assertTrue(manifest.find(), moving);
        assertEquals(plan.group(2), manifest.group(1), "the checkpoint records the plan in force");

        String fixed = run("fixed", dir).output();
        assertEquals(lines(moving, "LOSSES"), lines(fixed, "LOSSES"));
        List<String> params = lines(moving, "PARAMS");
        assertEquals(2, params.size(), moving);
        assertEquals(params, lines(fixed, "PARAMS"));
        // Not vacuous: momentum was compared for every trainable tensor that moved.
        for (String p : params) {
            Matcher m = Pattern.compile("tensors=(\\d+) momentum=(\\d+)").matcher(p);
            assertTrue(m.find() && Integer.parseInt(m.group(2)) > 0, p);
        }
    }

    /**
     * Re-partitioning into a boundary inside a unit: three equal layers on two stages balance only by sharing the
     * middle one; the run that moves there (the unit's parameters and momentum to their owner, a replica created on
     * the next stage) equals, bitwise, a run that started with that plan.
     */
    @Test
    void aRunThatMovesIntoASharedUnitEqualsOneThatStartedThere(@TempDir Path dir) throws Exception {
        Engine.getInstance();
        String moving = runShared("moving", dir);
        Matcher plan = Pattern.compile("PLAN rank=0 final=(\\S+) lent=\\[0,(\\d+),0\\]").matcher(moving);
        assertTrue(plan.find(), moving);
        assertTrue(Integer.parseInt(plan.group(2)) > 0, "the plan must end inside a unit: " + plan.group());
        String fixed = runShared("fixed", dir);
        assertEquals(lines(moving, "LOSSES"), lines(fixed, "LOSSES"));
        List<String> params = lines(moving, "PARAMS");
        assertEquals(2, params.size(), moving);
        assertEquals(params, lines(fixed, "PARAMS"));
        assertEquals(lines(moving, "PLAN"), lines(fixed, "PLAN"));
    }

    private static String runShared(String mode, Path dir) throws Exception {
        return run(LentRepartitionMain.class, mode, dir, "repartition-lent-" + mode + ".log").output();
    }
}
