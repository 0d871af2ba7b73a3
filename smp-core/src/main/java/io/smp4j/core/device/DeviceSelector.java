package io.smp4j.core.device;

import ai.djl.Device;
import ai.djl.engine.Engine;
import java.util.List;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which device a process trains on, as SageMaker's smp does it: on a host with GPUs, local rank i owns GPU i (one
 * process per GPU); more processes on a host than GPUs is an error, unless {@code processes_per_gpu} lets k ranks
 * share a GPU (local ranks 0..k-1 on GPU 0, k..2k-1 on GPU 1, ...); without a usable driver, the CPU, said in one log
 * line. {@code smp.device} (system property) or {@code SMP_DEVICE} (environment) {@code cpu} forces the CPU.
 */
public final class DeviceSelector {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceSelector.class);

    /** The choice: a DJL device, the GPU behind it (null on the CPU) and why. */
    public record Selection(Device device, Gpu gpu, String reason) {
    }

    private DeviceSelector() {
    }

    /**
     * @param localRank this process's rank on its host
     * @param localSize processes on this host
     * @param probe     the driver (JCuda, or a fake in tests)
     * @param request   {@code auto} or {@code cpu}
     */
    public static Selection select(int localRank, int localSize, GpuProbe probe, String request) {
        return select(localRank, localSize, probe, request, 1);
    }

    /**
     * @param processesPerGpu ranks that may share one GPU (1: a GPU each)
     */
    public static Selection select(int localRank, int localSize, GpuProbe probe, String request,
                                   int processesPerGpu) {
        if ("cpu".equals(request)) {
            return cpu("the CPU was asked for (smp.device=cpu)");
        }
        if (!"auto".equals(request)) {
            throw new IllegalArgumentException("smp.device is '" + request + "'; allowed: auto, cpu");
        }
        List<Gpu> gpus;
        try {
            gpus = probe.gpus();
        } catch (GpuProbe.GpuUnavailableException e) {
            return cpu("no usable GPU (" + e.getMessage() + "): training on the CPU");
        }
        if (gpus.isEmpty()) {
            return cpu("no GPU on this host: training on the CPU");
        }
        if (localSize > gpus.size() * processesPerGpu) {
            if (processesPerGpu == 1) {
                throw new IllegalArgumentException("this host runs " + localSize + " smp processes but has "
                        + gpus.size() + " GPU(s); each process needs a GPU of its own: start at most " + gpus.size()
                        + " per host (mpirun -npernode " + gpus.size() + ", mpi.processes_per_host), let processes "
                        + "share a GPU (processes_per_gpu), or set smp.device=cpu");
            }
            throw new IllegalArgumentException("this host runs " + localSize + " smp processes but has "
                    + gpus.size() + " GPU(s) for " + processesPerGpu + " process(es) each (processes_per_gpu): start "
                    + "at most " + gpus.size() * processesPerGpu + " per host, or raise processes_per_gpu");
        }
        int index = localRank / processesPerGpu;
        Gpu gpu = probe.use(index);
        return new Selection(Device.gpu(index), gpu, "local rank " + localRank + " of " + localSize + " -> " + gpu
                + (processesPerGpu > 1 ? " (shared by up to " + processesPerGpu + " processes)" : ""));
    }

    /**
     * Whether this process can train on a GPU: the driver shows one (JCuda) and DJL's engine was built for CUDA and sees
     * it. What the GPU tests check before they run (CI has no GPU: they skip).
     */
    public static boolean gpuUsable() {
        try {
            return !new JCudaProbe().gpus().isEmpty() && Engine.getInstance().getGpuCount() > 0;
        } catch (GpuProbe.GpuUnavailableException | LinkageError e) {
            return false;
        }
    }

    /** The request from {@code -Dsmp.device} or {@code SMP_DEVICE}, default auto. */
    public static String request() {
        String v = System.getProperty("smp.device", System.getenv("SMP_DEVICE"));
        return v == null || v.isBlank() ? "auto" : v.trim().toLowerCase(Locale.ROOT);
    }

    private static Selection cpu(String reason) {
        LOG.info("device: {}", reason);
        return new Selection(Device.cpu(), null, reason);
    }
}
