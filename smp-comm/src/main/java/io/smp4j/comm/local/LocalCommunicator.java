package io.smp4j.comm.local;

import io.smp4j.comm.AbstractCommunicator;
import io.smp4j.comm.CommException;
import io.smp4j.comm.Transfer;
import java.lang.reflect.Array;
import java.time.Duration;

/** A rank of a {@link LocalCluster}: ranks are threads of this JVM, messages are array copies. */
public final class LocalCommunicator extends AbstractCommunicator {
    private final LocalCluster cluster;
    /** World rank of each rank of this group. */
    private final int[] worldRanks;

    LocalCommunicator(LocalCluster cluster, String name, int[] worldRanks, int rank, Duration timeout) {
        super(rank, worldRanks.length, name, timeout);
        this.cluster = cluster;
        this.worldRanks = worldRanks;
    }

    /** World rank of this process. */
    public int worldRank() {
        return worldRanks[rank()];
    }

    private void checkAlive() {
        if (cluster.isDead(worldRank())) {
            throw new CommException("rank " + worldRank() + " was killed by fault injection");
        }
    }

    @Override
    protected Transfer postSend(Object buf, int offset, int length, int dest, int tag) {
        checkAlive();
        Object copy = Array.newInstance(buf.getClass().getComponentType(), length);
        System.arraycopy(buf, offset, copy, 0, length);
        if (!cluster.isDead(worldRanks[dest])) {
            cluster.endpoint(name(), worldRanks[dest]).deliver(new LocalCluster.Message(rank(), tag, copy, length));
        }
        return new Transfer() {
            @Override
            public boolean poll() {
                return true;
            }

            @Override
            public int count() {
                return length;
            }
        };
    }

    @Override
    protected Transfer postRecv(Object buf, int offset, int length, int source, int tag) {
        checkAlive();
        LocalCluster.PendingRecv r = new LocalCluster.PendingRecv(buf, offset, length, source, tag);
        // A killed peer's messages are dropped at send time, so its silence is real: the wait times out.
        cluster.endpoint(name(), worldRank()).post(r);
        return r;
    }

    @Override
    protected AbstractCommunicator createSubgroup(int color, int key, int[] members, int newRank,
                                                 String childName) {
        int[] world = new int[members.length];
        for (int i = 0; i < members.length; i++) {
            world[i] = worldRanks[members[i]];
        }
        return new LocalCommunicator(cluster, childName, world, newRank, timeout());
    }

    @Override
    public void close() {
        // Mailboxes belong to the cluster; only the collectives hold something per rank.
        closeCollectives();
    }
}
