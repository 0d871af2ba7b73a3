package io.smp4j.comm.local;

import io.smp4j.comm.CommException;
import io.smp4j.comm.group.LatchTransfer;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The mailboxes of an in-JVM cluster: messages are matched by MPI's rules (source, tag, group; non-overtaking) and
 * copied into the posted receive. A rank marked dead neither sends nor receives, so its peers see silence.
 */
final class LocalNetwork {
    private final Map<Key, Endpoint> endpoints = new HashMap<>();
    private final AtomicReferenceArray<Boolean> dead;

    LocalNetwork(int size) {
        dead = new AtomicReferenceArray<>(size);
        for (int i = 0; i < size; i++) {
            dead.set(i, false);
        }
    }

    void kill(int worldRank) {
        dead.set(worldRank, true);
    }

    boolean isDead(int worldRank) {
        return dead.get(worldRank);
    }

    synchronized Endpoint endpoint(String group, int worldRank) {
        return endpoints.computeIfAbsent(new Key(group, worldRank), k -> new Endpoint());
    }

    private record Key(String group, int worldRank) {
    }

    /** A sent message: a copy of the data (float[] or byte[]), its length and its envelope. */
    record Message(int source, int tag, Object data, int length) {
    }

    /** One rank's mailbox in one group: messages nobody asked for yet, and receives nobody matched yet. */
    static final class Endpoint {
        private final Deque<Message> unexpected = new ArrayDeque<>();
        private final Deque<PendingRecv> posted = new ArrayDeque<>();

        synchronized void deliver(Message m) {
            for (Iterator<PendingRecv> it = posted.iterator(); it.hasNext(); ) {
                PendingRecv r = it.next();
                if (r.source == m.source() && r.tag == m.tag()) {
                    it.remove();
                    r.complete(m);
                    return;
                }
            }
            unexpected.addLast(m);
        }

        synchronized void post(PendingRecv r) {
            for (Iterator<Message> it = unexpected.iterator(); it.hasNext(); ) {
                Message m = it.next();
                if (m.source() == r.source && m.tag() == r.tag) {
                    it.remove();
                    r.complete(m);
                    return;
                }
            }
            posted.addLast(r);
        }
    }

    /** A receive waiting for its message; completion copies the data and wakes the waiter. */
    static final class PendingRecv extends LatchTransfer {
        final int source;
        final int tag;
        private final Object buf;
        private final int offset;
        private final int capacity;

        PendingRecv(Object buf, int offset, int capacity, int source, int tag) {
            super(0);
            this.buf = buf;
            this.offset = offset;
            this.capacity = capacity;
            this.source = source;
            this.tag = tag;
        }

        void complete(Message m) {
            if (m.length() > capacity) {
                fail(new CommException("message of " + m.length() + " elements from rank " + source + " (tag " + tag
                        + ") does not fit the posted receive of " + capacity));
            } else if (m.data().getClass() != buf.getClass()) {
                fail(new CommException("message from rank " + source + " (tag " + tag + ") has element type "
                        + m.data().getClass().getSimpleName() + " but the receive posted "
                        + buf.getClass().getSimpleName()));
            } else {
                System.arraycopy(m.data(), 0, buf, offset, m.length());
                complete(m.length());
            }
        }
    }
}
