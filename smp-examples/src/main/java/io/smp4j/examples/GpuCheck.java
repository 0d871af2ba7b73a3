package io.smp4j.examples;

import io.smp4j.comm.launch.LaunchInfo;
import io.smp4j.core.device.DeviceSelector;
import io.smp4j.core.device.JCudaProbe;
import jcuda.Pointer;
import jcuda.runtime.JCuda;

/**
 * JCuda-only check of device selection for one process of a job (no DJL compute): selects this process's device as
 * {@code Smp.init} does, then confirms that the CUDA runtime's current device is that GPU and that 256 MiB can be
 * allocated and cleared on it. Run it under {@code mpirun -np N} on a GPU host.
 */
public final class GpuCheck {
    private GpuCheck() {
    }

    public static void main(String[] args) {
        LaunchInfo info = LaunchInfo.fromEnvironment(System.getenv());
        String who = "rank " + info.rank() + " (local " + info.localRank() + " of " + info.localSize() + ")";
        DeviceSelector.Selection s;
        try {
            s = DeviceSelector.select(info.localRank(), info.localSize(), new JCudaProbe(), DeviceSelector.request());
        } catch (IllegalArgumentException e) {
            System.out.println(who + ": refused: " + e.getMessage());
            System.exit(2);
            return;
        }
        System.out.println(who + ": " + s.reason() + " -> DJL device " + s.device());
        if (s.gpu() == null) {
            return;
        }
        int[] current = {-1};
        JCuda.cudaGetDevice(current);
        Pointer p = new Pointer();
        long bytes = 256L << 20;
        JCuda.cudaMalloc(p, bytes);
        JCuda.cudaMemset(p, 0, bytes);
        JCuda.cudaDeviceSynchronize();
        long[] free = {0};
        long[] total = {0};
        JCuda.cudaMemGetInfo(free, total);
        JCuda.cudaFree(p);
        boolean ok = current[0] == info.localRank();
        System.out.printf("%s: current CUDA device %d, allocated and cleared 256 MiB, %.1f GiB free of %.1f -> %s%n",
                who, current[0], free[0] / 1073741824.0, total[0] / 1073741824.0, ok ? "OK" : "WRONG DEVICE");
        System.exit(ok ? 0 : 1);
    }
}
