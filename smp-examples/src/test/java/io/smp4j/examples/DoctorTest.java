package io.smp4j.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.smp4j.core.device.Gpu;
import io.smp4j.core.device.GpuProbe;
import io.smp4j.core.device.JCudaProbe;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DoctorTest {
    static String run(GpuProbe probe, Map<String, String> env, int[] code) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        code[0] = Doctor.run(new PrintStream(bytes, true, StandardCharsets.UTF_8), probe, env);
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void thisMachine() {
        int[] code = {-1};
        String out = run(new JCudaProbe(), Map.of(), code);
        assertEquals(0, code[0], out);
        assertTrue(out.contains("djl engine   OK       PyTorch 2.7.1 (cpu) via DJL 0.35.1"), out);
        assertTrue(out.contains("mpj express  OK       MPJ Express (mpi.MPI from "), out);
        assertTrue(out.contains("not under mpirun"), out);
        assertTrue(out.lines().anyMatch(l -> l.startsWith("  gpus ")), out);
        assertTrue(out.endsWith("result: ready\n"), out);
    }

    @Test
    void gpusPeerMatrixAndPlannedDeviceUnderMpirun() {
        GpuProbe two = new GpuProbe() {
            @Override
            public List<Gpu> gpus() {
                return List.of(new Gpu(0, "Fake H200", 150L << 30, -1), new Gpu(1, "Fake H200", 150L << 30, -1));
            }

            @Override
            public Gpu use(int index) {
                return new Gpu(index, "Fake H200", 150L << 30, 140L << 30);
            }

            @Override
            public boolean canAccessPeer(int device, int peer) {
                return device == 0;
            }
        };
        int[] code = {-1};
        String out = run(two, Map.of("OMPI_COMM_WORLD_RANK", "3", "OMPI_COMM_WORLD_SIZE", "4",
                "OMPI_COMM_WORLD_LOCAL_RANK", "1", "OMPI_COMM_WORLD_LOCAL_SIZE", "2"), code);
        assertEquals(0, code[0], out);
        assertTrue(out.contains("gpus         OK       2 GPU(s)"), out);
        assertTrue(out.contains("GPU 1: Fake H200, 150.0 GiB (140.0 GiB free)"), out);
        assertTrue(out.contains("peer access (row can read column):   0   1"), out);
        assertTrue(out.contains("  0   -   Y"), out);
        assertTrue(out.contains("  1   n   -"), out);
        assertTrue(out.contains("rank 3 of 4, local rank 1 of 2; device: local rank 1 of 2 -> GPU 1: Fake H200"),
                out);
    }
}
