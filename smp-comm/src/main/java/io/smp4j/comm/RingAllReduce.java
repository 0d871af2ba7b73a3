package io.smp4j.comm;

import java.util.ArrayList;
import java.util.List;

/**
 * Bandwidth-optimal ring all-reduce (reduce-scatter then all-gather, 2(p-1) steps, each rank sending
 * 2(p-1)/p of the buffer), streamed in segments: a segment is forwarded to the right neighbour as soon as it has
 * been received and reduced, so transfers of one step overlap the reduction and the transfers of the next.
 * The owner of each chunk applies the averaging once before the all-gather, so every rank ends with identical bits.
 */
final class RingAllReduce {
    /**
     * 2 Mi floats = 8 MiB per message. MPJ niodev pays a large fixed cost per message (rendezvous above 128 KB,
     * buffer set-up), so fewer, larger messages win: at 47 MB on 2 ranks 32 Ki floats took 248 ms, 128 Ki 96 ms,
     * 512 Ki 97 ms, 2 Mi 65 ms, 8 Mi 63 ms ({@code ./smp bench comm --segment-floats N}).
     */
    static final int DEFAULT_SEGMENT_FLOATS = 1 << 21;

    private RingAllReduce() {
    }

    static void run(AbstractCommunicator c, float[] buf, int offset, int length, ReduceOp op) {
        int p = c.size();
        if (p == 1 || length == 0) {
            return;
        }
        int r = c.rank();
        int right = (r + 1) % p;
        int left = (r - 1 + p) % p;
        int seg = c.segmentFloats();
        int maxChunk = chunkLength(length, p, 0);
        for (int i = 1; i < p; i++) {
            maxChunk = Math.max(maxChunk, chunkLength(length, p, i));
        }
        float[] tmp = new float[maxChunk];
        float scale = op == ReduceOp.AVERAGE ? 1.0f / p : 1.0f;
        int steps = 2 * (p - 1);
        List<CommRequest> sends = new ArrayList<>();

        // Step 0 sends this rank's own chunk r; every later step sends the chunk received in the step before.
        sendChunk(c, buf, offset, length, r, 0, right, seg, sends);
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
                        ? c.post(false, tmp, from, n, left, tag(t, k, segments))
                        : c.post(false, buf, start + from, n, left, tag(t, k, segments)));
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
                    sends.add(c.post(true, buf, start + from, n, right, tag(t + 1, k, segments)));
                }
            }
        }
        CommRequest.awaitAll(sends);
    }

    private static void sendChunk(AbstractCommunicator c, float[] buf, int offset, int length, int chunk, int step,
                                  int right, int seg, List<CommRequest> sends) {
        int start = offset + chunkStart(length, c.size(), chunk);
        int len = chunkLength(length, c.size(), chunk);
        int segments = (len + seg - 1) / seg;
        for (int k = 0; k < segments; k++) {
            int from = k * seg;
            sends.add(c.post(true, buf, start + from, Math.min(seg, len - from), right, tag(step, k, segments)));
        }
    }

    /** Distinct tags per (step, segment) keep matching unambiguous even if the transport reorders tags. */
    private static int tag(int step, int segment, int segments) {
        return AbstractCommunicator.internalTag(AbstractCommunicator.TAG_ALLREDUCE, step * segments + segment);
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
