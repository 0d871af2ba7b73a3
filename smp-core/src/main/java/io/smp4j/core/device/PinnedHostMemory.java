package io.smp4j.core.device;

import io.smp4j.comm.JobFiles;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.lang.reflect.Method;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.Map;
import jcuda.Pointer;
import jcuda.runtime.JCuda;

/**
 * Page-locked host memory that the processes of one host share: a file in /dev/shm mapped by each, registered with
 * CUDA ({@code cudaHostRegister}) so that copies between it and a GPU run at the bus's speed, without staging. A
 * sender copies its tensors from its GPU straight into the buffer and the receiver from the buffer straight into its
 * GPU: a message crosses host memory once, with no Java array, socket or checksum on its way (it never leaves the
 * host's memory). The handle is the file's name; the creator unlinks the file as soon as the peers have opened it
 * ({@link #opened}), and a job killed before that leaves it to {@link JobFiles}' clean-up.
 */
public final class PinnedHostMemory implements PeerMemory {
    private static final Path DIR = Path.of("/dev/shm");
    /** The mapping and file behind each pointer this instance handed out. */
    private final Map<Pointer, Mapping> mappings = new IdentityHashMap<>();

    private record Mapping(MappedByteBuffer memory, Path file) {
    }

    /** Whether this host has the directory the buffers live in. */
    public static boolean available() {
        return Files.isDirectory(DIR);
    }

    @Override
    public String describe() {
        return "pinned host memory";
    }

    @Override
    public synchronized Pointer allocate(long bytes) {
        Path file = DIR.resolve(JobFiles.name(""));
        if (file.toString().getBytes(StandardCharsets.UTF_8).length > Cuda.HANDLE_BYTES) {
            throw new IllegalStateException("peer buffer name " + file + " is longer than a handle ("
                    + Cuda.HANDLE_BYTES + " bytes)");
        }
        try {
            // Leftovers of jobs killed where no launcher could clean up hold tmpfs memory: freed first, as the
            // host all-reduce does.
            JobFiles.removeStale(java.util.List.of(DIR));
            // tmpfs fills pages lazily: writing past what it holds would kill the process (SIGBUS) later.
            if (Files.getFileStore(DIR).getUsableSpace() < bytes + (bytes >> 1)) {
                throw new IllegalStateException(DIR + " cannot hold a peer buffer of " + (bytes >> 20) + " MB");
            }
            try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
                f.setLength(bytes);
            }
            return map(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create peer buffer " + file, e);
        }
    }

    private Pointer map(Path file) throws IOException {
        MappedByteBuffer m;
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw"); FileChannel ch = f.getChannel()) {
            m = ch.map(FileChannel.MapMode.READ_WRITE, 0, ch.size());
        }
        Pointer p = Pointer.to(m);
        try {
            JCuda.cudaHostRegister(p, m.capacity(), JCuda.cudaHostRegisterPortable);
        } catch (RuntimeException e) {
            unmap(m);
            throw e;
        }
        mappings.put(p, new Mapping(m, file));
        return p;
    }

    @Override
    public synchronized byte[] handle(Pointer buffer) {
        byte[] name = mapping(buffer).file().toString().getBytes(StandardCharsets.UTF_8);
        return Arrays.copyOf(name, Cuda.HANDLE_BYTES);
    }

    @Override
    public synchronized Pointer open(byte[] handle) {
        int n = 0;
        while (n < handle.length && handle[n] != 0) {
            n++;
        }
        Path file = Path.of(new String(handle, 0, n, StandardCharsets.UTF_8));
        if (!file.startsWith(DIR) || !file.getFileName().toString().startsWith("smp4j-")) {
            throw new IllegalArgumentException("not a peer buffer's handle: " + file);
        }
        try {
            return map(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open peer buffer " + file, e);
        }
    }

    @Override
    public synchronized void close(Pointer mapped) {
        Mapping m = mappings.remove(mapped);
        if (m != null) {
            JCuda.cudaHostUnregister(mapped);
            unmap(m.memory());
        }
    }

    @Override
    public synchronized void free(Pointer buffer) {
        Mapping m = mapping(buffer);
        close(buffer);
        delete(m.file());
    }

    @Override
    public synchronized void opened(Pointer buffer) {
        delete(mapping(buffer).file());
    }

    @Override
    public void toBuffer(Pointer buffer, Pointer device, long bytes) {
        Cuda.copyToHost(buffer, device, bytes);
    }

    @Override
    public void fromBuffer(Pointer device, Pointer buffer, long bytes) {
        Cuda.copyToDevice(device, buffer, bytes);
    }

    private Mapping mapping(Pointer p) {
        Mapping m = mappings.get(p);
        if (m == null) {
            throw new IllegalArgumentException("not a buffer of these peer buffers");
        }
        return m;
    }

    private static void delete(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove peer buffer " + file, e);
        }
    }

    /** Releases a mapping now (the JDK's own route; otherwise it stays until the buffer is collected). */
    private static void unmap(MappedByteBuffer m) {
        try {
            Class<?> unsafeClass = Class.forName("sun.misc.Unsafe");
            java.lang.reflect.Field f = unsafeClass.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            Method clean = unsafeClass.getMethod("invokeCleaner", java.nio.ByteBuffer.class);
            clean.invoke(f.get(null), m);
        } catch (ReflectiveOperationException e) {
            // Unmapped when collected.
        }
    }
}
