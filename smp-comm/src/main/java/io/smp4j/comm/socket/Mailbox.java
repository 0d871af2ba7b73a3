package io.smp4j.comm.socket;

import io.smp4j.comm.CommException;
import io.smp4j.comm.group.LatchTransfer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * Message matching of one communication context (one group): receives posted before their message arrived, and
 * messages that arrived before their receive (copied aside). Matching is by source world rank and tag, first come
 * first served, so two messages with one source and tag are received in the order they were sent (one connection
 * per source keeps that order), as MPI's non-overtaking rule says.
 */
final class Mailbox {
    /** Element kinds on the wire. */
    static final int FLOATS = 0;
    static final int BYTES = 1;

    private final BufferPool pool;
    private final List<Recv> posted = new ArrayList<>();
    private final Map<Long, ArrayDeque<Message>> early = new HashMap<>();

    Mailbox(BufferPool pool) {
        this.pool = pool;
    }

    /** A message that arrived before its receive ({@code data} from the pool, possibly longer than the message). */
    record Message(int kind, int count, byte[] data) {
    }

    private static long key(int source, int tag) {
        return ((long) source << 32) | (tag & 0xffffffffL);
    }

    /** A posted receive; completed by the reader of its source's connection, or at posting from an early message. */
    static final class Recv extends LatchTransfer {
        final int source;
        final int tag;
        final int kind;
        final Object buf;
        final int offset;
        final int length;

        Recv(int source, int tag, int kind, Object buf, int offset, int length) {
            super(0);
            this.source = source;
            this.tag = tag;
            this.kind = kind;
            this.buf = buf;
            this.offset = offset;
            this.length = length;
        }

        /** Null if a message of {@code kind}, {@code count} fits this receive, else why not. */
        String misfit(int msgKind, int msgCount) {
            if (msgKind != kind) {
                return "a message of " + (msgKind == FLOATS ? "floats" : "bytes") + " arrived for a receive of "
                        + (kind == FLOATS ? "floats" : "bytes");
            }
            return msgCount > length ? "a message of " + msgCount + " elements arrived for a receive of " + length
                    : null;
        }

        /** Fills this receive from a message copied aside. */
        void fill(Message m) {
            String why = misfit(m.kind(), m.count());
            if (why != null) {
                fail(new CommException(why + " (tag " + tag + ")"));
                return;
            }
            ByteBuffer b = ByteBuffer.wrap(m.data()).order(ByteOrder.nativeOrder());
            if (kind == FLOATS) {
                b.asFloatBuffer().get((float[]) buf, offset, m.count());
            } else {
                b.get((byte[]) buf, offset, m.count());
            }
            complete(m.count());
        }
    }

    /**
     * Posts {@code r}: fills it at once from an early message, fails it when its source's connection is gone
     * ({@code gone} says why, or null; read under this mailbox's lock, which {@link #sourceGone} takes after the
     * connection is marked gone, so no receive is left waiting for a closed connection), or keeps it for the reader.
     */
    void post(Recv r, IntFunction<String> goneWhy) {
        Message m;
        synchronized (this) {
            ArrayDeque<Message> q = early.get(key(r.source, r.tag));
            m = q == null ? null : q.poll();
            if (m == null) {
                String gone = goneWhy.apply(r.source);
                if (gone != null) {
                    r.fail(new CommException(gone));
                    return;
                }
                posted.add(r);
                return;
            }
        }
        fill(r, m);
    }

    /** Fills {@code r} from {@code m} and gives {@code m}'s array back to the pool. */
    void fill(Recv r, Message m) {
        r.fill(m);
        pool.give(m.data());
    }

    /** The oldest posted receive for {@code source}, {@code tag}, taken out; null if none. */
    synchronized Recv take(int source, int tag) {
        for (Iterator<Recv> it = posted.iterator(); it.hasNext(); ) {
            Recv r = it.next();
            if (r.source == source && r.tag == tag) {
                it.remove();
                return r;
            }
        }
        return null;
    }

    /** A message read aside: goes to a receive posted meanwhile, else waits for one. */
    void arrived(int source, int tag, Message m) {
        Recv r;
        synchronized (this) {
            r = take(source, tag);
            if (r == null) {
                early.computeIfAbsent(key(source, tag), k -> new ArrayDeque<>()).add(m);
                return;
            }
        }
        fill(r, m);
    }

    /** Fails every receive posted for {@code source}: its connection is gone. */
    void sourceGone(int source, String why) {
        List<Recv> failed = new ArrayList<>();
        synchronized (this) {
            for (Iterator<Recv> it = posted.iterator(); it.hasNext(); ) {
                Recv r = it.next();
                if (r.source == source) {
                    it.remove();
                    failed.add(r);
                }
            }
        }
        for (Recv r : failed) {
            r.fail(new CommException(why + " (tag " + r.tag + ")"));
        }
    }
}
