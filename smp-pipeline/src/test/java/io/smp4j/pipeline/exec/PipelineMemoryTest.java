package io.smp4j.pipeline.exec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import io.smp4j.comm.TestSupport;
import io.smp4j.comm.launch.LocalLauncher;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * 800 pipeline steps on 2 real processes, over the last 400: exactly as many live NDArrays in the executor's manager
 * tree at the end as after the warm-up (a microbatch scope or array left behind adds some every step), and resident
 * memory does not grow. The heap is fixed and pre-touched (-Xms = -Xmx, AlwaysPreTouch) and glibc's arena
 * count fixed, so a change of resident memory is a change of native memory. glibc's mmap and trim thresholds are fixed
 * too: left dynamic, freed blocks of 64 KB and more (every activation here) stayed in the arenas or went back at times
 * of glibc's choosing, and resident memory wandered by up to 20 MB either way over the same 400 steps (seen before and
 * after the executor's parts, with as many live arrays); fixed, it stays within a few MB, and a leaked block stays
 * mapped.
 */
class PipelineMemoryTest {
    /** A leaked microbatch scope per step (several 64 KB activations and gradients) would add well over 16 MB. */
    static final long MAX_GROWTH_KB = 16 * 1024;

    @Test
    void residentMemoryStaysFlatOver400StepsAfterWarmUp() throws Exception {
        Engine.getInstance();
        TestSupport.Result run = TestSupport.run(new LocalLauncher.Builder(2, MemoryMain.class.getName())
                .jvmArgs(List.of("-Xms128m", "-Xmx128m", "-XX:+AlwaysPreTouch", "-Dai.djl.pytorch.num_threads=1",
                        "-Dai.djl.pytorch.num_interop_threads=1", "-Dsmp.comm.timeout.s=120"))
                .env("MALLOC_ARENA_MAX", "2").env("MALLOC_MMAP_THRESHOLD_", "65536")
                .env("MALLOC_TRIM_THRESHOLD_", "131072"));
        int code = run.code();
        String output = run.output();
        assertEquals(0, code, output);
        Matcher m = Pattern.compile("RSS rank=(\\d) warm=(\\d+) end=(\\d+) KB arrays (\\d+) -> (\\d+)")
                .matcher(output);
        int ranks = 0;
        while (m.find()) {
            ranks++;
            long growth = Long.parseLong(m.group(3)) - Long.parseLong(m.group(2));
            System.out.println("pipeline memory: " + m.group() + " growth " + growth + " KB over 400 steps");
            assertTrue(growth < MAX_GROWTH_KB, m.group() + ": grew " + growth + " KB");
            assertEquals(m.group(4), m.group(5), m.group() + ": live NDArrays");
        }
        assertEquals(2, ranks, output);
    }
}
