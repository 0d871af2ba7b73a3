package io.smp4j.core.device;

import io.smp4j.pipeline.exec.DeviceClock;
import java.util.ArrayList;
import java.util.List;
import jcuda.runtime.cudaEvent_t;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Marks queued on a GPU's legacy default stream, where PyTorch queues its kernels: a mark completes when the kernels
 * launched before it have run, so an action's time is its kernels' without the host waiting after each action. Read at
 * {@link #resolve}: one wait for the last mark, then each mark's host time is the host's clock at that moment less the
 * device time from the mark to the last one. Events are reused from step to step (as many as a step's marks, kept for
 * the process's life). One thread uses a clock at a time (the executor's).
 */
public final class CudaEventClock implements DeviceClock {
    private static final Logger LOG = LoggerFactory.getLogger(CudaEventClock.class);
    private final int gpu;
    private final List<cudaEvent_t> events = new ArrayList<>();
    private int used;

    public CudaEventClock(int gpu) {
        this.gpu = gpu;
    }

    /**
     * Marks on {@code gpu}, tried once first; on the CPU (null), or where CUDA events fail (said in the log), the host's
     * clock after {@code synchronize}: observing must not be what stops a run.
     */
    public static DeviceClock orSynchronizing(Gpu gpu, Runnable synchronize) {
        if (gpu != null) {
            try {
                CudaEventClock c = new CudaEventClock(gpu.index());
                c.mark();
                c.mark();
                c.resolve();
                return c;
            } catch (RuntimeException | LinkageError e) {
                LOG.warn("CUDA events do not work on {} ({}): actions are timed after synchronising the device", gpu,
                        e.toString());
            }
        }
        return DeviceClock.synchronizing(synchronize);
    }

    @Override
    public int mark() {
        Cuda.use(gpu);
        if (used == events.size()) {
            events.add(Cuda.event());
        }
        Cuda.record(events.get(used));
        return used++;
    }

    @Override
    public long[] resolve() {
        long[] t = new long[used];
        if (used == 0) {
            return t;
        }
        Cuda.use(gpu);
        cudaEvent_t last = events.get(used - 1);
        Cuda.await(last);
        long now = System.nanoTime();
        for (int i = 0; i < used; i++) {
            t[i] = now - Math.round(Cuda.elapsedMillis(events.get(i), last) * 1e6);
        }
        used = 0;
        return t;
    }

    @Override
    public void forget() {
        used = 0;
    }

    @Override
    public boolean immediate() {
        return false;
    }
}
