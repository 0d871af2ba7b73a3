package io.smp4j.comm.group;

import io.smp4j.comm.Communicator;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Who forms which sub-group, as MPI_Comm_split: the ranks that passed the same color, ranked by (key, rank in the
 * parent). Collective: an all-gather of every rank's (color, key).
 *
 * @param members this rank's sub-group, as ranks of the parent, in new-rank order
 * @param newRank this rank's rank in it
 */
record Split(int[] members, int newRank) {
    static Split of(Communicator parent, int color, int key) {
        if (color < 0) {
            throw new IllegalArgumentException("split color must be >= 0, got " + color);
        }
        byte[][] all = parent.allGather(ByteBuffer.allocate(8).putInt(color).putInt(key).array());
        int[][] entries = new int[all.length][];
        for (int r = 0; r < all.length; r++) {
            ByteBuffer b = ByteBuffer.wrap(all[r]);
            entries[r] = new int[] {b.getInt(), b.getInt(), r};
        }
        int[] members = Arrays.stream(entries)
                .filter(e -> e[0] == color)
                .sorted((a, b) -> a[1] != b[1] ? Integer.compare(a[1], b[1]) : Integer.compare(a[2], b[2]))
                .mapToInt(e -> e[2])
                .toArray();
        int newRank = 0;
        while (members[newRank] != parent.rank()) {
            newRank++;
        }
        return new Split(members, newRank);
    }
}
