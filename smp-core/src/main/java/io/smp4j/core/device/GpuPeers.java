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
 * Which pairs of ranks move tensors between their GPUs without the communicator, and through what: both on GPUs of
 * one host, through {@link PeerMemory#CUDA_IPC CUDA IPC} where each can map the other's GPU memory, else through
 * {@link PinnedHostMemory pinned host memory} (each kind tried once at start-up: a small buffer shared, mapped
 * and copied into a tensor). Decided collectively over the world, so that both ends of every pair agree; ranks on the
 * CPU, on other hosts, or with {@code smp.device.link=communicator}, reach no one (their tensors go through the
 * communicator, host memory on both ends) and never touch CUDA.
 */
public final class GpuPeers {
    private static final Logger LOG = LoggerFactory.getLogger(GpuPeers.class);
    /** System property (or variable SMP_DEVICE_LINK) choosing the path between GPUs of one host. */
    public static final String MODE_PROPERTY = "smp.device.link";
    /** The modes, in the order of their error message. */
    public static final List<String> MODES = List.of("auto", "host", "communicator");
    private static final int PROBE_BYTES = 1 << 16;

    /** By pair of world ranks: the buffers they share, or null (through the communicator). */
    private final PeerMemory[][] path;

    GpuPeers(PeerMemory[][] path) {
        this.path = path;
    }

    /** No pair reaches another: everything goes through the communicator. */
    public static GpuPeers none(int worldSize) {
        return new GpuPeers(new PeerMemory[worldSize][worldSize]);
    }

    /**
     * {@code auto} (CUDA IPC where it works, else pinned host memory on one host), {@code host} (always through
     * host memory: pinned host memory on one host) or {@code communicator} (always through the communicator, as
     * between hosts); anything else is refused.
     */
    public static String mode() {
        String v = System.getProperty(MODE_PROPERTY, System.getenv().getOrDefault("SMP_DEVICE_LINK", "auto"));
        if (!MODES.contains(v)) {
            throw new IllegalArgumentException(MODE_PROPERTY + " is '" + v + "'; allowed: auto (GPUs of one host "
                    + "exchange tensors through CUDA IPC, else through pinned host memory), host (through pinned host "
                    + "memory mapped by both ranks on one host), communicator (always through the communicator)");
        }
        return v;
    }

    /** Whether world ranks {@code a} and {@code b} (different) exchange tensors without the communicator. */
    public boolean reaches(int a, int b) {
        return a != b && path[a][b] != null;
    }

    /** What world ranks {@code a} and {@code b} share, or null (through the communicator). */
    public PeerMemory path(int a, int b) {
        return a == b ? null : path[a][b];
    }

    /** Whether any two ranks of the world reach each other. */
    public boolean anyPair() {
        for (int a = 0; a < path.length; a++) {
            for (int b = 0; b < path.length; b++) {
                if (reaches(a, b)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Whether every pair of {@code group}'s ranks reaches the other (and the group has at least two). */
    public boolean allReach(Communicator group) {
        return common(group) != null;
    }

    /**
     * The kind of buffers every pair of {@code group}'s ranks shares (the group has at least two), or null where a pair
     * shares none or the pairs differ.
     */
    public PeerMemory common(Communicator group) {
        if (group.size() < 2) {
            return null;
        }
        PeerMemory kind = path(group.worldRank(0), group.worldRank(1));
        for (int i = 0; i < group.size(); i++) {
            for (int j = 0; j < group.size(); j++) {
                if (i != j && path(group.worldRank(i), group.worldRank(j)) != kind) {
                    return null;
                }
            }
        }
        return kind;
    }

    /** The pairs as log lines, e.g. {@code rank 0 <-> rank 1: CUDA IPC}. */
    public List<String> describe() {
        List<String> out = new ArrayList<>();
        for (int a = 0; a < path.length; a++) {
            for (int b = a + 1; b < path.length; b++) {
                if (reaches(a, b)) {
                    out.add("rank " + a + " <-> rank " + b + ": " + path[a][b].describe());
                }
            }
        }
        return out;
    }

    /**
     * Collective over {@code world}: for each kind the mode allows, every GPU rank shares a probe buffer and opens the
     * probes of the other GPU ranks of its host; a pair takes the first kind both ends succeeded with.
     */
    public static GpuPeers negotiate(Communicator world, DeviceSelector.Selection device, String mode) {
        int gpu = !"communicator".equals(mode) && device.gpu() != null && TensorMemory.available()
                ? device.gpu().index() : -1;
        int n = world.size();
        PeerMemory[][] path = new PeerMemory[n][n];
        List<PeerMemory> kinds = new ArrayList<>();
        if ("auto".equals(mode)) {
            kinds.add(PeerMemory.CUDA_IPC);
        }
        if (!"communicator".equals(mode)) { // every rank has the same mode: all skip the probe's collectives alike
            kinds.add(new PinnedHostMemory());
        }
        for (PeerMemory kind : kinds) {
            boolean[][] ok = probe(world, kind instanceof PinnedHostMemory && !PinnedHostMemory.available() ? -1 : gpu,
                    kind);
            for (int a = 0; a < n; a++) {
                for (int b = 0; b < n; b++) {
                    if (path[a][b] == null && ok[a][b]) {
                        path[a][b] = kind;
                    }
                }
            }
        }
        GpuPeers peers = new GpuPeers(path);
        if (world.rank() == 0) {
            peers.describe().forEach(line -> LOG.info("{}", line));
        }
        return peers;
    }

    /** Collective: which pairs of GPU ranks of one host can each open the other's buffer of {@code kind}. */
    private static boolean[][] probe(Communicator world, int gpu, PeerMemory kind) {
        Pointer probe = null;
        byte[] handle = new byte[Cuda.HANDLE_BYTES];
        if (gpu >= 0) {
            try {
                Cuda.use(gpu);
                probe = kind.allocate(PROBE_BYTES);
                handle = kind.handle(probe);
            } catch (RuntimeException | LinkageError e) {
                LOG.warn("rank {}: no {} ({})", world.rank(), kind.describe(), e.toString());
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
                Pointer p = kind.open(theirHandle);
                try {
                    // A real copy, peer buffer -> tensor memory, as the paths do.
                    try (NDManager m = NDManager.newBaseManager(Device.gpu(gpu));
                         NDArray a = m.zeros(new Shape(PROBE_BYTES / 4), DataType.FLOAT32)) {
                        kind.fromBuffer(Cuda.of(a), p, PROBE_BYTES);
                        Cuda.synchronize();
                    }
                } finally {
                    kind.close(p);
                }
                opened[q] = 1;
            } catch (RuntimeException | LinkageError e) {
                LOG.warn("rank {}: cannot map rank {}'s {} ({})", world.rank(), q, kind.describe(), e.toString());
            }
        }
        byte[][] outcome = world.allGather(opened);
        if (probe != null) {
            kind.free(probe); // every rank is past its opening: the second gather is a barrier
        }
        boolean[][] ok = new boolean[n][n];
        for (int a = 0; a < n; a++) {
            for (int b = 0; b < n; b++) {
                ok[a][b] = a != b && outcome[a][b] == 1 && outcome[b][a] == 1;
            }
        }
        return ok;
    }
}
