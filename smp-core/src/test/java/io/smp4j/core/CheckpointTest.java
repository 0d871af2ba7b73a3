package io.smp4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.engine.Engine;
import io.smp4j.comm.TestSupport;
import io.smp4j.comm.launch.LocalLauncher;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Checkpoints on 4 real processes: atomic save, exact resume, clear refusals, full export. */
class CheckpointTest {
    @Test
    void saveResumeRefuseAndExport(@TempDir Path dir) throws Exception {
        Engine.getInstance();
        TestSupport.Result run = TestSupport.run(new LocalLauncher.Builder(4, CheckpointMain.class.getName())
                .args(List.of(dir.toString()))
                .jvmArgs(List.of("-Xmx512m", "-Dai.djl.pytorch.num_threads=1", "-Dsmp.comm.timeout.s=120")));
        int code = run.code();
        String output = run.output();
        for (String check : new String[] {"released", "control", "resume", "wrong-optimizer", "truncated", "corrupted",
            "layout", "export"}) {
            assertEquals(4, output.lines().filter(l -> l.contains("CKPT " + check + " rank=") && l.contains(" OK"))
                    .count(), check + "; output:\n" + output);
        }
        assertEquals(0, code, output);
    }
}
