package io.smp4j.comm.group;

import io.smp4j.comm.CommRequest;
import java.nio.ByteBuffer;

/** Every rank's bytes on every rank: p-1 steps around the ring, each passing on what arrived in the step before. */
final class RingAllGather {
    private RingAllGather() {
    }

    static byte[][] allGather(CollectiveGroup c, byte[] mine) {
        int size = c.size();
        int rank = c.rank();
        byte[][] all = new byte[size][];
        all[rank] = mine.clone();
        int right = (rank + 1) % size;
        int left = (rank - 1 + size) % size;
        byte[] lenOut = new byte[4];
        byte[] lenIn = new byte[4];
        for (int s = 0; s < size - 1; s++) {
            byte[] out = all[(rank - s + size) % size];
            int inIdx = (rank - s - 1 + size) % size;
            ByteBuffer.wrap(lenOut).putInt(0, out.length);
            CommRequest rl = c.recvReserved(lenIn, 0, 4, left, Tags.of(Tags.ALLGATHER, 2 * s));
            CommRequest sl = c.sendReserved(lenOut, 0, 4, right, Tags.of(Tags.ALLGATHER, 2 * s));
            rl.await();
            byte[] in = new byte[ByteBuffer.wrap(lenIn).getInt(0)];
            CommRequest rd = c.recvReserved(in, 0, in.length, left, Tags.of(Tags.ALLGATHER, 2 * s + 1));
            CommRequest sd = c.sendReserved(out, 0, out.length, right, Tags.of(Tags.ALLGATHER, 2 * s + 1));
            rd.await();
            sl.await();
            sd.await();
            all[inIdx] = in;
        }
        return all;
    }
}
