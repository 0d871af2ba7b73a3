package io.smp4j.comm.local;

import io.smp4j.comm.CommException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * A simulated cluster inside one JVM: ranks are threads, messages are copied between mailboxes with MPI's
 * matching rules (source, tag, group; non-overtaking). Sends are buffered and complete at once.
 *
 * <p>Faults for tests: {@link #kill(int)} makes a rank silent, as a dead process is to MPJ: messages to and from it
 * vanish and peers time out.
 *
 * <pre>{@code
 * LocalCluster cluster = new LocalCluster(4, Duration.ofSeconds(5));
 * cluster.run(comm -> comm.allReduce(buf, ReduceOp.SUM));   // one thread per rank
 * }</pre>
 */
public final class LocalCluster {
    private final int size;
    private final Duration timeout;
    private final Map<Key, Endpoint> endpoints = new HashMap<>();
    private final AtomicReferenceArray<Boolean> dead;

    public LocalCluster(int size, Duration timeout) {
        if (size < 1) {
            throw new IllegalArgumentException("cluster size must be >= 1, got " + size);
        }
        this.size = size;
        this.timeout = timeout;
        this.dead = new AtomicReferenceArray<>(size);
        for (int i = 0; i < size; i++) {
            dead.set(i, false);
        }
    }

    public int size() {
        return size;
    }

    /** The world communicator of {@code rank}; call once per rank, from that rank's thread. */
    public LocalCommunicator world(int rank) {
        int[] identity = new int[size];
        for (int i = 0; i < size; i++) {
            identity[i] = i;
        }
        return new LocalCommunicator(this, "world", identity, rank, timeout);
    }

    /** Runs {@code body} on one thread per rank and rethrows the first failure (with the others suppressed). */
    public void run(RankBody body) {
        Thread[] threads = new Thread[size];
        Throwable[] errors = new Throwable[size];
        for (int r = 0; r < size; r++) {
            final int rank = r;
            threads[r] = new Thread(() -> {
                try (LocalCommunicator c = world(rank)) {
                    body.run(c);
                } catch (Throwable t) {
                    errors[rank] = t;
                }
            }, "local-rank-" + r);
            threads[r].start();
        }
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CommException("interrupted while joining rank threads");
            }
        }
        RuntimeException first = null;
        for (int r = 0; r < size; r++) {
            if (errors[r] != null) {
                if (first == null) {
                    first = new CommException("rank " + r + " failed: " + errors[r], errors[r]);
                } else {
                    first.addSuppressed(errors[r]);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** Body of one rank in {@link #run}. */
    @FunctionalInterface
    public interface RankBody {
        void run(LocalCommunicator comm) throws Exception;
    }

    /** From now on {@code worldRank} neither sends nor receives: its peers see silence and time out. */
    public void kill(int worldRank) {
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

    /** One rank's mailbox in one group: messages nobody asked for yet, and receives nobody matched yet. */
    static final class Endpoint {
        private final Deque<Message> unexpected = new ArrayDeque<>();
        private final Deque<PendingRecv> posted = new ArrayDeque<>();

        synchronized void deliver(Message m) {
            for (Iterator<PendingRecv> it = posted.iterator(); it.hasNext(); ) {
                PendingRecv r = it.next();
                if (r.source == m.source && r.tag == m.tag) {
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
                if (m.source == r.source && m.tag == r.tag) {
                    it.remove();
                    r.complete(m);
                    return;
                }
            }
            posted.addLast(r);
        }
    }

    record Message(int source, int tag, Object data, int length) {
    }

    /** A receive waiting for its message; completion copies the data and wakes the waiter. */
    static final class PendingRecv implements io.smp4j.comm.Transfer {
        final int source;
        final int tag;
        private final Object buf;
        private final int offset;
        private final int capacity;
        private final AtomicBoolean done = new AtomicBoolean();
        private volatile int count;
        private final java.util.concurrent.CountDownLatch latch = new java.util.concurrent.CountDownLatch(1);
        private volatile String error;

        PendingRecv(Object buf, int offset, int capacity, int source, int tag) {
            this.buf = buf;
            this.offset = offset;
            this.capacity = capacity;
            this.source = source;
            this.tag = tag;
        }

        void complete(Message m) {
            if (m.length() > capacity) {
                error = "message of " + m.length() + " elements from rank " + source + " (tag " + tag
                        + ") does not fit the posted receive of " + capacity;
            } else if (m.data().getClass() != buf.getClass()) {
                error = "message from rank " + source + " (tag " + tag + ") has element type "
                        + m.data().getClass().getSimpleName() + " but the receive posted "
                        + buf.getClass().getSimpleName();
            } else {
                System.arraycopy(m.data(), 0, buf, offset, m.length());
                count = m.length();
            }
            done.set(true);
            latch.countDown();
        }

        @Override
        public boolean poll() {
            if (done.get() && error != null) {
                throw new CommException(error);
            }
            return done.get();
        }

        @Override
        public int count() {
            return count;
        }

        @Override
        public boolean awaitNanos(long nanos) {
            try {
                latch.await(nanos, java.util.concurrent.TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CommException("interrupted while waiting for a message from rank " + source);
            }
            return poll();
        }
    }

    Duration timeout() {
        return timeout;
    }
}
