package io.smp4j.core.device;

import io.smp4j.core.Smp;
import io.smp4j.core.SmpConfig;

/** Rank program of {@link CudaVisibilityTest}: joins the job and prints the device and what CUDA would see. */
public final class CpuDeviceMain {
    private CpuDeviceMain() {
    }

    public static void main(String[] args) {
        try (Smp smp = Smp.init(SmpConfig.builder().partitions(1).ddp(true).build())) {
            System.out.println("CPUDEVICE rank=" + smp.rank() + " device=" + smp.device() + " visible=["
                    + CudaVisibility.cEnvironment(CudaVisibility.VARIABLE) + "]");
        }
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }
}
