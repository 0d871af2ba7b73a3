package io.smp4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.engine.Engine;
import io.smp4j.comm.launch.LocalLauncher;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Checkpoints on 4 real processes: atomic save, exact resume, clear refusals, full export. */
class CheckpointTest {
    @Test
    void saveResumeRefuseAndExport(@TempDir Path dir) throws Exception {
        Engine.getInstance();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int code;
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            code = new LocalLauncher.Builder(4, CheckpointMain.class.getName()).args(List.of(dir.toString()))
                    .jvmArgs(List.of("-Xmx512m", "-Dai.djl.pytorch.num_threads=1", "-Dsmp.comm.timeout.s=120"))
                    .output(out).build().run();
        }
        String output = bytes.toString(StandardCharsets.UTF_8);
        for (String check : new String[] {"released", "control", "resume", "wrong-optimizer", "truncated", "layout", "export"}) {
            assertEquals(4, output.lines().filter(l -> l.contains("CKPT " + check + " rank=") && l.contains(" OK"))
                    .count(), check + "; output:\n" + output);
        }
        assertEquals(0, code, output);
    }
}
