package io.smp4j.comm.group;

import io.smp4j.comm.CommRequest;
import io.smp4j.comm.Communicator;

/**
 * A group as its collectives see it: the public operations, plus sends and receives with the collectives' reserved
 * tags (see {@link Tags}). Implemented by {@link Group}; the collectives depend on this, not on the group's class.
 */
public interface CollectiveGroup extends Communicator {
    CommRequest sendReserved(float[] buf, int offset, int length, int dest, int tag);

    CommRequest sendReserved(byte[] buf, int offset, int length, int dest, int tag);

    CommRequest recvReserved(float[] buf, int offset, int length, int source, int tag);

    CommRequest recvReserved(byte[] buf, int offset, int length, int source, int tag);
}
