package io.smp4j.comm.group;

import io.smp4j.comm.CommRequest;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Broadcast along a chain root -> root+1 -> ..., in segments: each rank forwards a segment as soon as it has it, so
 * a long message crosses the chain in about the time of one transfer plus one segment per hop.
 */
final class ChainBroadcast {
    private ChainBroadcast() {
    }

    static void broadcast(CollectiveGroup c, float[] buf, int offset, int length, int root) {
        chain(c, length, root, (k, from, n, send, peer) -> send
                ? c.sendReserved(buf, offset + from, n, peer, Tags.of(Tags.BROADCAST, k))
                : c.recvReserved(buf, offset + from, n, peer, Tags.of(Tags.BROADCAST, k)));
    }

    /** Root's {@code data} on every rank: its length first, then the bytes. */
    static byte[] broadcast(CollectiveGroup c, byte[] data, int root) {
        byte[] len = new byte[4];
        if (c.rank() == root) {
            ByteBuffer.wrap(len).putInt(data.length);
        }
        bytes(c, len, root);
        byte[] out = c.rank() == root ? data : new byte[ByteBuffer.wrap(len).getInt()];
        bytes(c, out, root);
        return out;
    }

    private static void bytes(CollectiveGroup c, byte[] buf, int root) {
        chain(c, buf.length, root, (k, from, n, send, peer) -> send
                ? c.sendReserved(buf, from, n, peer, Tags.of(Tags.BROADCAST, k))
                : c.recvReserved(buf, from, n, peer, Tags.of(Tags.BROADCAST, k)));
    }

    /** Posts segment {@code k} ({@code n} elements from {@code from}) as a send to or a receive from {@code peer}. */
    @FunctionalInterface
    private interface Segment {
        CommRequest post(int k, int from, int n, boolean send, int peer);
    }

    private static void chain(CollectiveGroup c, int length, int root, Segment segment) {
        int size = c.size();
        if (size == 1 || length == 0) {
            return;
        }
        int pos = (c.rank() - root + size) % size;
        int prev = (c.rank() - 1 + size) % size;
        int next = (c.rank() + 1) % size;
        int seg = c.options().segmentFloats();
        int segments = (length + seg - 1) / seg;
        List<CommRequest> recvs = new ArrayList<>();
        List<CommRequest> sends = new ArrayList<>();
        if (pos > 0) {
            for (int k = 0; k < segments; k++) {
                recvs.add(segment.post(k, k * seg, Math.min(seg, length - k * seg), false, prev));
            }
        }
        for (int k = 0; k < segments; k++) {
            if (pos > 0) {
                recvs.get(k).await();
            }
            if (pos < size - 1) {
                sends.add(segment.post(k, k * seg, Math.min(seg, length - k * seg), true, next));
            }
        }
        CommRequest.awaitAll(sends);
    }
}
