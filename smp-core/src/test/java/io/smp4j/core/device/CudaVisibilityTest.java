package io.smp4j.core.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.smp4j.comm.TestSupport;
import io.smp4j.comm.launch.LocalLauncher;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * smp.device=cpu hides the GPUs from CUDA in each rank's own C environment (what CUDA reads when it starts), and only
 * then: the GPU tests check the effect (no rank among the GPU's processes) where there is a GPU.
 */
class CudaVisibilityTest {
    private static final Pattern LINE = Pattern.compile("CPUDEVICE rank=(\\d) device=(\\S+) visible=\\[(.*)]");

    @Test
    void cpuRequestHidesTheGpusInEveryRank() throws Exception {
        assertEquals(List.of("", ""), visible(true));
    }

    @Test
    void autoLeavesTheEnvironmentAlone() throws Exception {
        String before = System.getenv(CudaVisibility.VARIABLE);
        assertEquals(List.of(String.valueOf(before), String.valueOf(before)), visible(false));
    }

    private static List<String> visible(boolean cpu) throws Exception {
        LocalLauncher.Builder launch = new LocalLauncher.Builder(2, CpuDeviceMain.class.getName())
                .jvmArgs(List.of("-Xmx256m"));
        if (cpu) {
            launch.env("SMP_DEVICE", "cpu");
        }
        TestSupport.Result run = TestSupport.run(launch);
        assertEquals(0, run.code(), run.output());
        Matcher m = LINE.matcher(run.output());
        String[] seen = new String[2];
        while (m.find()) {
            assertEquals("cpu()", m.group(2), m.group());
            seen[Integer.parseInt(m.group(1))] = m.group(3);
        }
        assertTrue(cpu == run.output().contains("GPUs hidden from CUDA"), run.output());
        return List.of(String.valueOf(seen[0]), String.valueOf(seen[1]));
    }
}
