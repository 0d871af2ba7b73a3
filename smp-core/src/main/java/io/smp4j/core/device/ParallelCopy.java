package io.smp4j.core.device;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Bulk copies between page-locked host buffers and Java arrays on the host path, split over a few threads when large:
 * one core copied 64 MB between a pinned buffer and a Java array in about 12 ms on an H100 host (5 GB/s, a server
 * core's share of the memory bandwidth), which was most of that path's device-to-host and host-to-device time; several
 * cores share more of it. Below {@link #SPLIT_BYTES} one thread, the caller's. The threads are daemons, made on first
 * use, at most 4 and half the cores (none on a machine of 2 or 3 cores).
 */
final class ParallelCopy {
    /** Smaller copies stay on the caller's thread. */
    static final long SPLIT_BYTES = 4L << 20;
    static final int THREADS = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors() / 2));
    private static ExecutorService pool;

    /** Copies elements {@code from} (inclusive) to {@code to} (exclusive) of one bulk copy. */
    interface Range {
        void copy(int from, int to);
    }

    private ParallelCopy() {
    }

    /** Copies {@code count} elements of {@code elementBytes} each through {@code range}, split when large. */
    static void bulk(int count, int elementBytes, Range range) {
        inParts(count, (long) count * elementBytes < SPLIT_BYTES ? 1 : THREADS, range);
    }

    /** Copies {@code count} elements in {@code parts} ranges, the first on this thread, the others on the pool's. */
    static void inParts(int count, int parts, Range range) {
        parts = Math.max(1, Math.min(parts, count));
        if (parts == 1) {
            range.copy(0, count);
            return;
        }
        int per = (count + parts - 1) / parts;
        List<Future<?>> others = new ArrayList<>(parts - 1);
        ExecutorService threads = pool();
        for (int p = 1; p < parts; p++) {
            int from = p * per;
            int to = Math.min(count, from + per);
            if (from < to) {
                others.add(threads.submit(() -> range.copy(from, to)));
            }
        }
        range.copy(0, Math.min(per, count));
        for (Future<?> f : others) {
            try {
                f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted during a host copy", e);
            } catch (ExecutionException e) {
                throw new IllegalStateException("a host copy failed: " + e.getCause(), e.getCause());
            }
        }
    }

    private static synchronized ExecutorService pool() {
        if (pool == null) {
            pool = Executors.newFixedThreadPool(Math.max(1, THREADS - 1), r -> {
                Thread t = new Thread(r, "smp4j-host-copy");
                t.setDaemon(true);
                return t;
            });
        }
        return pool;
    }
}
