package io.smp4j.core.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.smp4j.core.device.Cuda;
import io.smp4j.core.device.CudaEventClock;
import io.smp4j.core.device.DeviceSelector;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * On a GPU (skipped where none is usable): the executor's marks time PyTorch's kernels, queued with them, without the
 * host waiting for them. The same kernels timed by waiting for the device are the reference.
 */
@Tag("gpu")
class CudaEventClockTest {
    @BeforeAll
    static void needsAGpu() {
        Assumptions.assumeTrue(DeviceSelector.gpuUsable(), "no GPU usable by DJL here");
    }

    /** 20 products of 4096 x 4096 matrices: tens of milliseconds of kernels, about a millisecond of launches. */
    private static void work(NDArray a) {
        for (int i = 0; i < 20; i++) {
            a.matMul(a).close();
        }
    }

    @Test
    void marksTimeTheKernelsBetweenThemWithoutTheHostWaiting() {
        try (NDManager m = NDManager.newBaseManager(Device.gpu(0))) {
            NDArray a = m.randomNormal(new Shape(4096, 4096)).div(64);
            Cuda.use(0);
            work(a); // warm-up: kernels chosen, memory cached
            Cuda.synchronize();
            long s0 = System.nanoTime();
            work(a);
            Cuda.synchronize();
            long waited = System.nanoTime() - s0;

            CudaEventClock clock = new CudaEventClock(0);
            long h0 = System.nanoTime();
            assertEquals(0, clock.mark());
            work(a);
            assertEquals(1, clock.mark());
            long queued = System.nanoTime() - h0;
            long[] t = clock.resolve();
            long after = System.nanoTime();
            long timed = t[1] - t[0];
            String what = String.format("kernels timed by marks %.2f ms, by waiting %.2f ms; host queued them in %.2f ms",
                    timed / 1e6, waited / 1e6, queued / 1e6);
            System.out.println("MARKS " + what);
            assertEquals(2, t.length);
            // Marks on another stream than PyTorch's would complete at once (near 0); marks that made the host wait
            // would take the kernels' time to queue.
            assertTrue(timed >= waited / 2 && timed <= 2 * waited, what);
            assertTrue(queued < timed / 2, what);
            assertTrue(t[0] >= h0 - 1_000_000 && t[1] <= after, what + ": marks outside the host's interval");
            assertEquals(0, clock.resolve().length, "resolve starts again from none");
        }
    }
}
