package io.smp4j.comm.local;

import io.smp4j.comm.CommException;
import io.smp4j.comm.CommOptions;
import io.smp4j.comm.Communicator;
import io.smp4j.comm.group.Group;
import java.time.Duration;

/**
 * A simulated cluster inside one JVM: ranks are threads, messages are copied between mailboxes with MPI's matching
 * rules (source, tag, group; non-overtaking). Sends are buffered and complete at once.
 *
 * <p>Faults for tests: {@link #kill(int)} makes a rank silent, as a dead process is to MPJ: messages to and from it
 * vanish and peers time out.
 *
 * <pre>{@code
 * LocalCluster cluster = new LocalCluster(4, CommOptions.defaults());
 * cluster.run(comm -> comm.allReduce(buf, ReduceOp.SUM));   // one thread per rank
 * }</pre>
 */
public final class LocalCluster {
    private final int size;
    private final CommOptions options;
    private final LocalNetwork network;

    public LocalCluster(int size, CommOptions options) {
        if (size < 1) {
            throw new IllegalArgumentException("cluster size must be >= 1, got " + size);
        }
        this.size = size;
        this.options = options;
        this.network = new LocalNetwork(size);
    }

    /** A cluster with the default options but this timeout. */
    public LocalCluster(int size, Duration timeout) {
        this(size, CommOptions.defaults().withTimeout(timeout));
    }

    public int size() {
        return size;
    }

    /** The world communicator of {@code rank}; call once per rank, from that rank's thread. */
    public Communicator world(int rank) {
        int[] identity = new int[size];
        for (int i = 0; i < size; i++) {
            identity[i] = i;
        }
        return new Group(rank, size, "world", options, new LocalTransport(network, "world", identity, rank), null);
    }

    /** Runs {@code body} on one thread per rank and rethrows the first failure (with the others suppressed). */
    public void run(RankBody body) {
        Thread[] threads = new Thread[size];
        Throwable[] errors = new Throwable[size];
        for (int r = 0; r < size; r++) {
            final int rank = r;
            threads[r] = new Thread(() -> {
                try (Communicator c = world(rank)) {
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
        void run(Communicator comm) throws Exception;
    }

    /** From now on {@code worldRank} neither sends nor receives: its peers see silence and time out. */
    public void kill(int worldRank) {
        network.kill(worldRank);
    }
}
