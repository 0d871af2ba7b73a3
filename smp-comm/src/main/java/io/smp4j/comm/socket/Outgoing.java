package io.smp4j.comm.socket;

import io.smp4j.comm.CommException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * This rank's connection to one peer of its host: messages are written by the sending thread itself (no hand-over to
 * another thread), one at a time. A write that has not finished when the timeout expires (the peer is stopped and
 * its socket buffer full) is ended by closing the connection, and the send fails naming the peer.
 */
final class Outgoing {
    /** Closes the connections of sends past their deadline: one daemon thread for the process, checking each second. */
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "smp-socket-watchdog");
        t.setDaemon(true);
        return t;
    });
    private static final Set<Outgoing> WATCHED = ConcurrentHashMap.newKeySet();

    static {
        WATCHDOG.scheduleWithFixedDelay(() -> WATCHED.forEach(Outgoing::check), 1, 1, TimeUnit.SECONDS);
    }
    private static final int STAGE = 1 << 20;

    private final SocketChannel channel;
    private final int peer;
    private final ReentrantLock lock = new ReentrantLock();
    private final ByteBuffer stage = ByteBuffer.allocateDirect(STAGE).order(ByteOrder.nativeOrder());
    private final Duration timeout;
    /** When the write under way must have finished (System.nanoTime), or 0 when none is under way. */
    private volatile long deadline;
    private volatile boolean expired;

    Outgoing(SocketChannel channel, int peer, Duration timeout) {
        this.channel = channel;
        this.peer = peer;
        this.timeout = timeout;
        WATCHED.add(this);
    }

    /** Writes one message: the header, then the elements, through the staging buffer in chunks. */
    void send(long context, int tag, int kind, Object buf, int offset, int count) {
        lock.lock();
        deadline = Math.max(1, System.nanoTime() + timeout.toNanos());
        try {
            stage.clear();
            stage.putLong(context).putInt(tag).putInt(kind).putInt(count);
            int done = 0;
            do {
                int n;
                if (kind == Mailbox.FLOATS) {
                    n = Math.min(count - done, stage.remaining() / 4);
                    stage.asFloatBuffer().put((float[]) buf, offset + done, n);
                    stage.position(stage.position() + n * 4);
                } else {
                    n = Math.min(count - done, stage.remaining());
                    stage.put((byte[]) buf, offset + done, n);
                }
                done += n;
                stage.flip();
                while (stage.hasRemaining()) {
                    channel.write(stage);
                }
                stage.clear();
            } while (done < count);
        } catch (IOException e) {
            throw new CommException(expired
                    ? "send to rank " + peer + " (tag " + tag + ") did not finish within " + timeout.toSeconds()
                            + " s: rank " + peer + " is stopped or no longer reads; the connection is closed"
                    : "send to rank " + peer + " (tag " + tag + ") failed (" + e + "): rank " + peer + " died?", e);
        } finally {
            deadline = 0;
            lock.unlock();
        }
    }

    /** The watchdog's check: ends a write past its deadline by closing the connection. */
    private void check() {
        long d = deadline;
        if (d != 0 && System.nanoTime() - d > 0) {
            expired = true;
            close();
        }
    }

    /** Closes the connection (for good: its peer sees the end of the stream). */
    void close() {
        WATCHED.remove(this);
        try {
            channel.close();
        } catch (IOException e) {
            // closing is all that is left to do
        }
    }
}
