package io.smp4j.core.device;

import com.sun.jna.Library;
import com.sun.jna.Native;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hides the GPUs from CUDA in this process, for {@code smp.device=cpu} on a GPU host. Placing every tensor on the CPU
 * is not enough: PyTorch's {@code manual_seed} (DJL's {@code Engine.setRandomSeed}) seeds the generator of every GPU it
 * can see, which creates a CUDA context (about 600 MiB) on each of them (seen on the H100 and H200 hosts). CUDA reads
 * {@code CUDA_VISIBLE_DEVICES} when it starts in a process, so {@code Smp.init} sets it empty (libc's {@code setenv},
 * through JNA: Java cannot change its own environment) before anything asks CUDA for a GPU.
 */
public final class CudaVisibility {
    private static final Logger LOG = LoggerFactory.getLogger(CudaVisibility.class);
    public static final String VARIABLE = "CUDA_VISIBLE_DEVICES";

    private interface C extends Library {
        int setenv(String name, String value, int overwrite);

        String getenv(String name);
    }

    private CudaVisibility() {
    }

    /** Sets {@code CUDA_VISIBLE_DEVICES} empty in this process's C environment; false (logged) where that failed. */
    public static boolean hideGpus() {
        try {
            C c = Native.load("c", C.class);
            if (c.setenv(VARIABLE, "", 1) != 0) {
                LOG.warn("smp.device=cpu: setenv({}) failed: CUDA may still create contexts on this host's GPUs",
                        VARIABLE);
                return false;
            }
            LOG.info("device: GPUs hidden from CUDA in this process ({}=\"\")", VARIABLE);
            return "".equals(c.getenv(VARIABLE));
        } catch (LinkageError | RuntimeException e) {
            LOG.warn("smp.device=cpu: cannot hide the GPUs from CUDA ({}): PyTorch may still create contexts on them",
                    e.toString());
            return false;
        }
    }

    /** This process's C environment value of {@code name} (what CUDA sees), or null. */
    public static String cEnvironment(String name) {
        return Native.load("c", C.class).getenv(name);
    }
}
