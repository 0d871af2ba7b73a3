package io.smp4j.comm.socket;

import java.util.ArrayDeque;

/**
 * Arrays for messages that arrive before their receive, reused: a fresh array of a megabyte or more is a humongous
 * allocation in G1 and cost about 3 ms on the 2-core test machine, more than the message's transfer. Sizes are
 * powers of two from 4 KB; at most {@link #RETAINED} bytes are kept.
 */
final class BufferPool {
    static final long RETAINED = 64L << 20;
    @SuppressWarnings("unchecked")
    private final ArrayDeque<byte[]>[] free = new ArrayDeque[32];
    private long retained;

    private static int sizeClass(int bytes) {
        return Math.max(12, 32 - Integer.numberOfLeadingZeros(Math.max(1, bytes - 1)));
    }

    /** An array of at least {@code bytes} bytes. */
    synchronized byte[] take(int bytes) {
        int c = sizeClass(bytes);
        ArrayDeque<byte[]> q = free[c];
        if (q != null && !q.isEmpty()) {
            byte[] b = q.pop();
            retained -= b.length;
            return b;
        }
        return new byte[c >= 31 ? bytes : 1 << c];
    }

    /** Gives {@code b} back (kept if there is room). */
    synchronized void give(byte[] b) {
        int c = sizeClass(b.length);
        if (b.length != 1 << c || retained + b.length > RETAINED) {
            return;
        }
        if (free[c] == null) {
            free[c] = new ArrayDeque<>();
        }
        free[c].push(b);
        retained += b.length;
    }
}
