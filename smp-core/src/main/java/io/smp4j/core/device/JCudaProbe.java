package io.smp4j.core.device;

import java.util.ArrayList;
import java.util.List;
import jcuda.CudaException;
import jcuda.runtime.JCuda;
import jcuda.runtime.cudaDeviceProp;

/** {@link GpuProbe} through JCuda's runtime API (the CUDA runtime is linked into JCuda; only the driver is needed). */
public final class JCudaProbe implements GpuProbe {
    @Override
    public List<Gpu> gpus() {
        int[] count = {0};
        JCudaNatives.prepare();
        try {
            JCuda.setExceptionsEnabled(true);
            JCuda.cudaGetDeviceCount(count);
        } catch (CudaException e) {
            throw new GpuUnavailableException("CUDA: " + e.getMessage(), e);
        } catch (LinkageError e) {
            throw new GpuUnavailableException("JCuda's native library cannot be loaded: " + e.getMessage(), e);
        }
        List<Gpu> out = new ArrayList<>();
        for (int i = 0; i < count[0]; i++) {
            cudaDeviceProp p = new cudaDeviceProp();
            JCuda.cudaGetDeviceProperties(p, i);
            out.add(new Gpu(i, p.getName(), p.totalGlobalMem, -1));
        }
        return out;
    }

    @Override
    public Gpu use(int index) {
        try {
            JCuda.cudaSetDevice(index);
            long[] free = {0};
            long[] total = {0};
            JCuda.cudaMemGetInfo(free, total);
            cudaDeviceProp p = new cudaDeviceProp();
            JCuda.cudaGetDeviceProperties(p, index);
            return new Gpu(index, p.getName(), total[0], free[0]);
        } catch (CudaException e) {
            throw new GpuUnavailableException("CUDA device " + index + ": " + e.getMessage(), e);
        }
    }

    /**
     * The driver's synchronisation of the current device's primary context, which PyTorch's CUDA runtime shares with
     * JCuda's: it waits for the kernels DJL launched too.
     */
    @Override
    public void synchronize() {
        JCuda.cudaDeviceSynchronize();
    }

    @Override
    public boolean canAccessPeer(int device, int peer) {
        int[] can = {0};
        JCuda.cudaDeviceCanAccessPeer(can, device, peer);
        return can[0] != 0;
    }
}
