package io.smp4j.comm.group;

import io.smp4j.comm.Backoff;
import io.smp4j.comm.CommException;
import io.smp4j.comm.CommTimeoutException;
import io.smp4j.comm.Communicator;
import io.smp4j.comm.HostIdentity;
import io.smp4j.comm.JobFiles;
import io.smp4j.comm.ReduceOp;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * All-reduce for the ranks of one host through a memory-mapped file in /dev/shm, where a TCP transport (MPJ
 * niodev, about 1.4 GB/s on loopback) is the bottleneck.
 *
 * <p>Each rank owns one slot of the file. Per call: (1) every rank writes into its slot the chunks the others will
 * reduce; (2) rank r sums chunk r over all ranks in rank order (so the bits never depend on timing), scales it
 * for an average, and publishes it in its own slot; (3) every rank copies the other chunks back. Two arrival
 * barriers per call, on per-rank generation counters in the file's header; a rank that does not arrive within the
 * timeout is named in a {@link CommTimeoutException}.
 *
 * <p>The file is unlinked as soon as every rank has mapped it, so nothing is left behind, even after a crash.
 */
final class SharedMemoryAllReduce implements AllReduce {
    private static final Logger LOG = LoggerFactory.getLogger(SharedMemoryAllReduce.class);
    private static final VarHandle INT = MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.nativeOrder());
    /** One cache line per rank's counter, so that ranks do not invalidate each other's line. */
    private static final int FLAG_STRIDE = 64;

    private final Communicator group;
    private final int p;
    private final int r;
    private MappedByteBuffer header;
    private FloatBuffer[] slots;
    private long capacityFloats;
    private int generation;
    private int lastLength = -1;
    private float[] scratch = new float[0];
    /** This rank's own values of the chunk it reduces, while rank 0's take their place (see allReduce). */
    private float[] own = new float[0];

    private SharedMemoryAllReduce(Communicator group) {
        this.group = group;
        this.p = group.size();
        this.r = group.rank();
    }

    /**
     * Collective: returns an instance if every rank of {@code group} runs on this host and /dev/shm can hold
     * {@code floats} per rank, else null (callers then use the network path).
     */
    static SharedMemoryAllReduce create(Communicator group, int floats) {
        byte[][] hosts = group.allGather(HostIdentity.of().getBytes(StandardCharsets.UTF_8));
        for (byte[] h : hosts) {
            if (!Arrays.equals(h, hosts[0])) {
                return null;
            }
        }
        SharedMemoryAllReduce s = new SharedMemoryAllReduce(group);
        return s.map(floats) ? s : null;
    }

    /** Collective: (re)maps a file with room for {@code floats} per rank. False (on every rank) if impossible. */
    private boolean map(int floats) {
        long slotBytes = ((long) floats * 4 + 4095) / 4096 * 4096;
        long headerBytes = Math.max(4096, (long) p * FLAG_STRIDE);
        long total = headerBytes + slotBytes * p;
        Path dir = Path.of("/dev/shm");
        String name = "";
        if (r == 0) {
            try {
                // tmpfs fills pages lazily: writing past what it can hold kills the process with SIGBUS.
                // Leftovers of killed jobs whose launcher could not clean up (mpirun) hold memory: free them first.
                int stale = JobFiles.removeStale(List.of(dir));
                if (stale > 0) {
                    LOG.info("removed {} file(s) of ended jobs from {}", stale, dir);
                }
                if (Files.isDirectory(dir) && Files.getFileStore(dir).getUsableSpace() > total + (total >> 1)) {
                    name = dir.resolve(JobFiles.name("")).toString();
                    try (RandomAccessFile f = new RandomAccessFile(name, "rw")) {
                        f.setLength(total);
                    }
                } else {
                    LOG.info("shared-memory all-reduce off: /dev/shm cannot hold {} MB; using the ring over the "
                            + "network", total >> 20);
                }
            } catch (IOException e) {
                LOG.info("shared-memory all-reduce off ({}); using the ring over the network", e.toString());
                name = "";
            }
        }
        String created = name; // rank 0's file, unlinked below whatever happens
        boolean allOk;
        MappedByteBuffer newHeader = null;
        FloatBuffer[] newSlots = new FloatBuffer[p];
        try {
            name = new String(group.broadcast(name.getBytes(StandardCharsets.UTF_8), 0), StandardCharsets.UTF_8);
            if (name.isEmpty()) {
                return false;
            }
            boolean ok = true;
            try (RandomAccessFile f = new RandomAccessFile(name, "rw"); FileChannel ch = f.getChannel()) {
                newHeader = ch.map(FileChannel.MapMode.READ_WRITE, 0, headerBytes);
                for (int q = 0; q < p; q++) {
                    newSlots[q] = ch.map(FileChannel.MapMode.READ_WRITE, headerBytes + q * slotBytes, slotBytes)
                            .order(ByteOrder.nativeOrder()).asFloatBuffer();
                }
            } catch (IOException e) {
                LOG.warn("rank {} cannot map {}: {}", r, name, e.toString());
                ok = false;
            }
            // Everyone must agree before rank 0 unlinks the file (mappings outlive the name).
            // (allGather, not allReduce: the all-reduce may be the one asking for this mapping.)
            allOk = true;
            for (byte[] v : group.allGather(new byte[] {(byte) (ok ? 1 : 0)})) {
                allOk &= v[0] == 1;
            }
        } finally {
            if (r == 0 && !created.isEmpty()) {
                try {
                    Files.deleteIfExists(Path.of(created));
                } catch (IOException e) {
                    LOG.warn("cannot remove {}: {}", created, e.toString());
                }
            }
        }
        if (!allOk) {
            return false;
        }
        header = newHeader;
        slots = newSlots;
        capacityFloats = slotBytes / 4;
        generation = 0;
        return true;
    }

    @Override
    public void allReduce(float[] buf, int offset, int length, ReduceOp op) {
        if (length > capacityFloats) {
            if (!map(length)) {
                throw new CommException("cannot grow the shared-memory all-reduce to " + length + " floats");
            }
        } else if (length != lastLength && lastLength >= 0) {
            // Chunk boundaries move with the length: let every rank finish reading the last result first.
            arriveAndWait("allReduce (shared memory, resize)");
        }
        lastLength = length;
        FloatBuffer mine = slots[r];
        for (int q = 0; q < p; q++) {
            if (q != r) {
                int s = chunkStart(length, q);
                mine.put(s, buf, offset + s, chunkStart(length, q + 1) - s);
            }
        }
        arriveAndWait("allReduce (shared memory, inputs)");

        // Reduce chunk r in place in rank order, x0 + x1 + ... + x(p-1): every element is summed in the same order
        // whichever rank reduces it, so the bits depend neither on timing nor on where the chunk boundaries fall (an
        // all-reduce of a buffer equals the all-reduces of its slices), and every rank ends with the same bits.
        int s = chunkStart(length, r);
        int n = chunkStart(length, r + 1) - s;
        if (scratch.length < n) {
            scratch = new float[n];
            own = new float[n];
        }
        int base = offset + s;
        if (r != 0) {
            System.arraycopy(buf, base, own, 0, n);
            slots[0].get(s, buf, base, n);
        }
        for (int q = 1; q < p; q++) {
            float[] x = own;
            if (q != r) {
                slots[q].get(s, scratch, 0, n);
                x = scratch;
            }
            for (int i = 0; i < n; i++) {
                buf[base + i] += x[i];
            }
        }
        if (op == ReduceOp.AVERAGE) {
            float scale = 1.0f / p;
            for (int i = 0; i < n; i++) {
                buf[base + i] *= scale;
            }
        }
        mine.put(s, buf, base, n);
        arriveAndWait("allReduce (shared memory, results)");

        for (int q = 0; q < p; q++) {
            if (q != r) {
                int qs = chunkStart(length, q);
                slots[q].get(qs, buf, offset + qs, chunkStart(length, q + 1) - qs);
            }
        }
    }

    private int chunkStart(int length, int chunk) {
        return (int) ((long) length * chunk / p);
    }

    /** Publishes this rank's next generation and waits until every rank has reached it. */
    private void arriveAndWait(String what) {
        int gen = ++generation;
        INT.setRelease(header, r * FLAG_STRIDE, gen);
        long deadline = System.nanoTime() + group.timeout().toNanos();
        Backoff backoff = new Backoff();
        for (int q = 0; q < p; q++) {
            while ((int) INT.getAcquire(header, q * FLAG_STRIDE) < gen) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new CommTimeoutException(group, q, -1, what, group.timeout());
                }
                backoff.pause(left);
            }
        }
    }

    @Override
    public void close() {
        header = null;
        slots = null;
    }
}
