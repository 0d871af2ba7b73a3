package io.smp4j.comm.group;

import io.smp4j.comm.CommRequest;

/** Barrier by dissemination: in round k each rank signals rank + 2^k and waits for rank - 2^k; log2(p) rounds. */
final class DisseminationBarrier {
    private DisseminationBarrier() {
    }

    static void barrier(CollectiveGroup c) {
        int size = c.size();
        int rank = c.rank();
        byte[] token = new byte[1];
        byte[] sink = new byte[1];
        for (int k = 0, dist = 1; dist < size; k++, dist <<= 1) {
            CommRequest r = c.recvReserved(sink, 0, 1, (rank - dist + size) % size, Tags.of(Tags.BARRIER, k));
            CommRequest s = c.sendReserved(token, 0, 1, (rank + dist) % size, Tags.of(Tags.BARRIER, k));
            r.await();
            s.await();
        }
    }
}
