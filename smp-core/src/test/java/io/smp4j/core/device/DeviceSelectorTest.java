package io.smp4j.core.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.Device;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class DeviceSelectorTest {
    /** A host with {@code n} 80 GiB GPUs, remembering which one was made current. */
    static final class FakeProbe implements GpuProbe {
        final int n;
        final List<Integer> used = new ArrayList<>();

        FakeProbe(int n) {
            this.n = n;
        }


        @Override
        public List<Gpu> gpus() {
            List<Gpu> g = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                g.add(new Gpu(i, "Fake GPU", 80L << 30, -1));
            }
            return g;
        }

        @Override
        public Gpu use(int index) {
            used.add(index);
            return new Gpu(index, "Fake GPU", 80L << 30, 70L << 30);
        }

        @Override
        public boolean canAccessPeer(int device, int peer) {
            return true;
        }
    }

    static final GpuProbe NO_DRIVER = new GpuProbe() {
        @Override
        public List<Gpu> gpus() {
            throw new GpuUnavailableException("CUDA: cudaErrorInsufficientDriver", null);
        }

        @Override
        public Gpu use(int index) {
            throw new AssertionError("no GPU to use");
        }

        @Override
        public boolean canAccessPeer(int device, int peer) {
            throw new AssertionError();
        }
    };

    @Test
    void localRankOwnsTheGpuOfItsIndex() {
        FakeProbe probe = new FakeProbe(4);
        DeviceSelector.Selection s = DeviceSelector.select(2, 4, probe, "auto");
        assertEquals(Device.gpu(2), s.device());
        assertEquals(List.of(2), probe.used);
        assertEquals("local rank 2 of 4 -> GPU 2: Fake GPU, 80.0 GiB (70.0 GiB free)", s.reason());
        // Fewer processes than GPUs is fine: the rest stay idle.
        assertEquals(Device.gpu(0), DeviceSelector.select(0, 1, new FakeProbe(8), "auto").device());
    }

    @Test
    void moreProcessesThanGpusIsAnError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DeviceSelector.select(0, 4, new FakeProbe(2), "auto"));
        assertEquals("this host runs 4 smp processes but has 2 GPU(s); each process needs a GPU of its own: start at "
                + "most 2 per host (mpirun -npernode 2, mpi.processes_per_host), let processes share a GPU "
                + "(processes_per_gpu), or set smp.device=cpu", e.getMessage());
    }

    /** processes_per_gpu k: local ranks 0..k-1 on GPU 0, k..2k-1 on GPU 1; still refused beyond k per GPU. */
    @Test
    void processesMayShareAGpuWhenAskedTo() {
        FakeProbe probe = new FakeProbe(2);
        assertEquals(Device.gpu(0), DeviceSelector.select(1, 4, probe, "auto", 2).device());
        assertEquals(Device.gpu(1), DeviceSelector.select(2, 4, probe, "auto", 2).device());
        assertEquals(Device.gpu(1), DeviceSelector.select(3, 4, probe, "auto", 2).device());
        assertEquals("this host runs 5 smp processes but has 2 GPU(s) for 2 process(es) each (processes_per_gpu): "
                + "start at most 4 per host, or raise processes_per_gpu", assertThrows(IllegalArgumentException.class,
                        () -> DeviceSelector.select(0, 5, probe, "auto", 2)).getMessage());
    }

    @Test
    void noDriverOrNoGpuOrAskedFallsBackToTheCpu() {
        DeviceSelector.Selection s = DeviceSelector.select(1, 4, NO_DRIVER, "auto");
        assertEquals(Device.cpu(), s.device());
        assertNull(s.gpu());
        assertEquals("no usable GPU (CUDA: cudaErrorInsufficientDriver): training on the CPU", s.reason());
        assertEquals("no GPU on this host: training on the CPU",
                DeviceSelector.select(0, 2, new FakeProbe(0), "auto").reason());
        FakeProbe probe = new FakeProbe(2);
        assertEquals(Device.cpu(), DeviceSelector.select(0, 2, probe, "cpu").device());
        assertEquals(List.of(), probe.used, "smp.device=cpu must not touch the GPUs");
        assertEquals("smp.device is 'tpu'; allowed: auto, cpu", assertThrows(IllegalArgumentException.class,
                () -> DeviceSelector.select(0, 1, probe, "tpu")).getMessage());
    }

    /** The real JCuda probe on this machine: a GPU host lists its GPUs; a CPU host gives a clear reason, no crash. */
    @Test
    void realProbeAnswersOrExplains() {
        DeviceSelector.Selection s = DeviceSelector.select(0, 1, new JCudaProbe(), "auto");
        if (s.gpu() == null) {
            assertEquals(Device.cpu(), s.device());
            org.junit.jupiter.api.Assertions.assertTrue(s.reason().startsWith("no usable GPU (")
                    || s.reason().startsWith("no GPU on this host"), s.reason());
        } else {
            assertEquals(Device.gpu(0), s.device());
        }
    }
}
