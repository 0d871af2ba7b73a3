package io.smp4j.core.device;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.smp4j.comm.Communicator;
import io.smp4j.comm.HostIdentity;
import io.smp4j.pipeline.djl.TensorMemory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import jcuda.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which pairs of ranks can move tensors device to device: both on GPUs of one host, each able to map the other's
 * memory (CUDA IPC, tried once at start-up: a small buffer exported, mapped and copied into a tensor). Decided collectively over the world, so that both
 * ends of every pair agree; ranks on the CPU, or with {@code smp.device.link=host}, reach no one and never touch CUDA.
 */
public final class GpuPeers {
    private static final Logger LOG = LoggerFactory.getLogger(GpuPeers.class);
    /** System property (or variable SMP_DEVICE_LINK) choosing the path between GPUs of one host. */
    public static final String MODE_PROPERTY = "smp.device.link";
    private static final int PROBE_BYTES = 1 << 16;

    private final boolean[][] reach;

    GpuPeers(boolean[][] reach) {
        this.reach = reach;
    }

    /** No pair reaches another: everything goes through host memory. */
    public static GpuPeers none(int worldSize) {
        return new GpuPeers(new boolean[worldSize][worldSize]);
    }

    /** {@code auto} (CUDA IPC where it works) or {@code host} (always through host memory); anything else is refused. */
    public static String mode() {
        String v = System.getProperty(MODE_PROPERTY, System.getenv().getOrDefault("SMP_DEVICE_LINK", "auto"));
        if (!v.equals("auto") && !v.equals("host")) {
            throw new IllegalArgumentException(MODE_PROPERTY + " is '" + v + "'; allowed: auto (GPUs of one host "
                    + "exchange tensors through CUDA IPC), host (always through host memory)");
        }
        return v;
    }

    /** Whether world ranks {@code a} and {@code b} (different) exchange tensors device to device. */
    public boolean reaches(int a, int b) {
        return a != b && reach[a][b];
    }

    /** Whether any two ranks of the world reach each other. */
    public boolean anyPair() {
        for (int a = 0; a < reach.length; a++) {
            for (int b = 0; b < reach.length; b++) {
                if (reaches(a, b)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Whether every pair of {@code group}'s ranks reaches the other (and the group has at least two). */
    public boolean allReach(Communicator group) {
        if (group.size() < 2) {
            return false;
        }
        for (int i = 0; i < group.size(); i++) {
            for (int j = 0; j < group.size(); j++) {
                if (i != j && !reaches(group.worldRank(i), group.worldRank(j))) {
                    return false;
                }
            }
        }
        return true;
    }

    /** The pairs as log lines, e.g. {@code rank 0 <-> rank 1: CUDA IPC}. */
    public List<String> describe() {
        List<String> out = new ArrayList<>();
        for (int a = 0; a < reach.length; a++) {
            for (int b = a + 1; b < reach.length; b++) {
                if (reaches(a, b)) {
                    out.add("rank " + a + " <-> rank " + b + ": device to device (CUDA IPC)");
                }
            }
        }
        return out;
    }

    /**
     * Collective over {@code world}: every GPU rank exports a probe buffer, opens the probes of the other GPU ranks of
     * its host, and the pairs that both succeeded reach each other.
     */
    public static GpuPeers negotiate(Communicator world, DeviceSelector.Selection device, String mode) {
        int gpu = "auto".equals(mode) && device.gpu() != null && TensorMemory.available() ? device.gpu().index() : -1;
        Pointer probe = null;
        byte[] handle = new byte[Cuda.HANDLE_BYTES];
        if (gpu >= 0) {
            try {
                Cuda.use(gpu);
                probe = Cuda.malloc(PROBE_BYTES);
                handle = Cuda.exportHandle(probe);
            } catch (RuntimeException | LinkageError e) {
                LOG.warn("rank {}: no CUDA IPC ({}): tensors to other GPUs go through host memory", world.rank(),
                        e.toString());
                gpu = -1;
            }
        }
        byte[] host = HostIdentity.of().getBytes(StandardCharsets.UTF_8);
        ByteBuffer mine = ByteBuffer.allocate(8 + Cuda.HANDLE_BYTES + host.length);
        mine.putInt(gpu).put(handle).putInt(host.length).put(host);
        byte[][] all = world.allGather(mine.array());
        int n = world.size();
        byte[] opened = new byte[n];
        for (int q = 0; q < n; q++) {
            ByteBuffer b = ByteBuffer.wrap(all[q]);
            int theirGpu = b.getInt();
            byte[] theirHandle = new byte[Cuda.HANDLE_BYTES];
            b.get(theirHandle);
            byte[] theirHost = new byte[b.getInt()];
            b.get(theirHost);
            if (q == world.rank() || gpu < 0 || theirGpu < 0 || !Arrays.equals(host, theirHost)) {
                continue;
            }
            try {
                Pointer p = Cuda.open(theirHandle);
                try {
                    // A real copy, peer buffer -> tensor memory, as the paths do.
                    try (NDManager m = NDManager.newBaseManager(Device.gpu(gpu));
                         NDArray a = m.zeros(new Shape(PROBE_BYTES / 4), DataType.FLOAT32)) {
                        Cuda.copy(Cuda.of(a), p, PROBE_BYTES);
                        Cuda.synchronize();
                    }
                } finally {
                    Cuda.close(p);
                }
                opened[q] = 1;
            } catch (RuntimeException | LinkageError e) {
                LOG.warn("rank {}: cannot map rank {}'s GPU memory ({}): tensors between them go through host "
                        + "memory", world.rank(), q, e.toString());
            }
        }
        byte[][] outcome = world.allGather(opened);
        if (probe != null) {
            Cuda.free(probe); // every rank is past its opening: the second gather is a barrier
        }
        boolean[][] reach = new boolean[n][n];
        for (int a = 0; a < n; a++) {
            for (int b = 0; b < n; b++) {
                reach[a][b] = a != b && outcome[a][b] == 1 && outcome[b][a] == 1;
            }
        }
        GpuPeers peers = new GpuPeers(reach);
        if (world.rank() == 0) {
            peers.describe().forEach(line -> LOG.info("{}", line));
        }
        return peers;
    }
}
