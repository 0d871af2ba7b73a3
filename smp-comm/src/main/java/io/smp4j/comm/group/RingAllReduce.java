package io.smp4j.comm.group;

import io.smp4j.comm.CommOptions;
import io.smp4j.comm.CommRequest;
import io.smp4j.comm.ReduceOp;
import java.util.ArrayList;
import java.util.List;

/**
 * Bandwidth-optimal ring all-reduce (reduce-scatter then all-gather, 2(p-1) steps, each rank sending 2(p-1)/p of the
 * buffer), streamed in segments ({@link CommOptions#segmentFloats()}): a segment is forwarded to the
 * right neighbour as soon as it has been received and reduced, so transfers of one step overlap the reduction and the
 * transfers of the next. The owner of each chunk applies the averaging once before the all-gather, so every rank ends
 * with identical bits.
 */
final class RingAllReduce implements AllReduce {
    private final CollectiveGroup c;

    RingAllReduce(CollectiveGroup c) {
        this.c = c;
    }

    @Override
    public void allReduce(float[] buf, int offset, int length, ReduceOp op) {
        int p = c.size();
        if (p == 1 || length == 0) {
            return;
        }
        int r = c.rank();
        int right = (r + 1) % p;
        int left = (r - 1 + p) % p;
        int seg = c.options().segmentFloats();
        int maxChunk = chunkLength(length, p, 0);
        for (int i = 1; i < p; i++) {
            maxChunk = Math.max(maxChunk, chunkLength(length, p, i));
        }
        float[] tmp = new float[maxChunk];
        float scale = op == ReduceOp.AVERAGE ? 1.0f / p : 1.0f;
        int steps = 2 * (p - 1);
        List<CommRequest> sends = new ArrayList<>();

        // Step 0 sends this rank's own chunk r; every later step sends the chunk received in the step before.
        sendChunk(buf, offset, length, r, right, seg, sends);
        for (int t = 0; t < steps; t++) {
            int chunk = recvChunkIndex(r, t, p);
            int start = offset + chunkStart(length, p, chunk);
            int len = chunkLength(length, p, chunk);
            boolean reduce = t < p - 1;
            int segments = (len + seg - 1) / seg;
            List<CommRequest> recvs = new ArrayList<>(segments);
            for (int k = 0; k < segments; k++) {
                int from = k * seg;
                int n = Math.min(seg, len - from);
                recvs.add(reduce
                        ? c.recvReserved(tmp, from, n, left, tag(t, k, segments))
                        : c.recvReserved(buf, start + from, n, left, tag(t, k, segments)));
            }
            for (int k = 0; k < segments; k++) {
                int from = k * seg;
                int n = Math.min(seg, len - from);
                recvs.get(k).await();
                if (reduce) {
                    int base = start + from;
                    if (t == p - 2 && scale != 1.0f) {
                        for (int i = 0; i < n; i++) {
                            buf[base + i] = (buf[base + i] + tmp[from + i]) * scale;
                        }
                    } else {
                        for (int i = 0; i < n; i++) {
                            buf[base + i] += tmp[from + i];
                        }
                    }
                }
                if (t + 1 < steps) {
                    sends.add(c.sendReserved(buf, start + from, n, right, tag(t + 1, k, segments)));
                }
            }
        }
        CommRequest.awaitAll(sends);
    }

    private void sendChunk(float[] buf, int offset, int length, int chunk, int right, int seg,
                           List<CommRequest> sends) {
        int start = offset + chunkStart(length, c.size(), chunk);
        int len = chunkLength(length, c.size(), chunk);
        int segments = (len + seg - 1) / seg;
        for (int k = 0; k < segments; k++) {
            int from = k * seg;
            sends.add(c.sendReserved(buf, start + from, Math.min(seg, len - from), right, tag(0, k, segments)));
        }
    }

    /** Distinct tags per (step, segment) keep matching unambiguous even if the transport reorders tags. */
    private static int tag(int step, int segment, int segments) {
        return Tags.of(Tags.ALLREDUCE, step * segments + segment);
    }

    /** Reduce-scatter step t receives chunk r-t-1; all-gather step t (t >= p-1) receives chunk r-t (mod p). */
    static int recvChunkIndex(int r, int t, int p) {
        int idx = t < p - 1 ? r - t - 1 : r - (t - (p - 1));
        return Math.floorMod(idx, p);
    }

    static int chunkStart(int length, int p, int chunk) {
        return (int) ((long) length * chunk / p);
    }

    static int chunkLength(int length, int p, int chunk) {
        return chunkStart(length, p, chunk + 1) - chunkStart(length, p, chunk);
    }
}
