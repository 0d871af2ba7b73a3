package io.smp4j.comm;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * The behaviour every {@link Communicator} must have, as scenarios that run on every rank of a group. The in-JVM
 * suite runs them on threads; the MPJ suite runs them in real processes ({@link ScenarioMain}). A scenario fails
 * by throwing.
 */
public final class CommunicatorContract {
    /** One contract clause, executed by every rank. */
    @FunctionalInterface
    public interface Scenario {
        void run(Communicator c) throws Exception;
    }

    private CommunicatorContract() {
    }

    /** All scenarios, by name, in a fixed order (every rank must run them in the same order). */
    public static Map<String, Scenario> scenarios() {
        Map<String, Scenario> s = new LinkedHashMap<>();
        s.put("ranksAreDistinctAndDense", CommunicatorContract::ranksAreDistinctAndDense);
        s.put("floatsTravelAroundTheRing", CommunicatorContract::floatsTravelAroundTheRing);
        s.put("bytesArriveWithTheirCount", CommunicatorContract::bytesArriveWithTheirCount);
        s.put("sameTagIsFifoAndTagsAreMatched", CommunicatorContract::sameTagIsFifoAndTagsAreMatched);
        s.put("largeMessagesArriveWholeWhileReceivesArePostedLate",
                CommunicatorContract::largeMessagesArriveWholeWhileReceivesArePostedLate);
        s.put("allReduceSumEqualsClosedForm", CommunicatorContract::allReduceSumEqualsClosedForm);
        s.put("allReduceAverageOfLargeUnevenBuffer", CommunicatorContract::allReduceAverageOfLargeUnevenBuffer);
        s.put("allReduceIsBitIdenticalOnEveryRank", CommunicatorContract::allReduceIsBitIdenticalOnEveryRank);
        s.put("allReduceTouchesOnlyItsRange", CommunicatorContract::allReduceTouchesOnlyItsRange);
        s.put("broadcastFromEveryRoot", CommunicatorContract::broadcastFromEveryRoot);
        s.put("barrierWaitsForTheLastRank", CommunicatorContract::barrierWaitsForTheLastRank);
        s.put("splitFormsOrderedIsolatedGroups", CommunicatorContract::splitFormsOrderedIsolatedGroups);
        s.put("badArgumentsAreRejected", CommunicatorContract::badArgumentsAreRejected);
        s.put("silentPeerTimesOutNamingIt", CommunicatorContract::silentPeerTimesOutNamingIt);
        return s;
    }

    static void check(boolean ok, String message, Object... args) {
        if (!ok) {
            throw new AssertionError(String.format(message, args));
        }
    }

    static void ranksAreDistinctAndDense(Communicator c) {
        check(c.size() >= 1 && c.rank() >= 0 && c.rank() < c.size(), "rank %d size %d", c.rank(), c.size());
        byte[][] all = c.allGather(ByteBuffer.allocate(4).putInt(c.rank()).array());
        for (int r = 0; r < c.size(); r++) {
            check(ByteBuffer.wrap(all[r]).getInt() == r, "allGather slot %d holds rank %d", r,
                    ByteBuffer.wrap(all[r]).getInt());
        }
    }

    static void floatsTravelAroundTheRing(Communicator c) {
        int p = c.size();
        int n = 1000;
        float[] out = new float[n + 10];
        for (int i = 0; i < n; i++) {
            out[5 + i] = c.rank() * 1e4f + i;
        }
        float[] in = new float[n + 4];
        CommRequest r = c.irecv(in, 2, n, (c.rank() - 1 + p) % p, 7);
        CommRequest s = c.isend(out, 5, n, (c.rank() + 1) % p, 7);
        int got = r.await();
        s.await();
        int left = (c.rank() - 1 + p) % p;
        check(got == n, "received %d floats, expected %d", got, n);
        for (int i = 0; i < n; i++) {
            check(in[2 + i] == left * 1e4f + i, "in[%d]=%f expected %f", 2 + i, in[2 + i], left * 1e4f + i);
        }
        check(in[0] == 0 && in[1] == 0 && in[n + 2] == 0, "receive wrote outside its range");
    }

    static void bytesArriveWithTheirCount(Communicator c) {
        if (c.size() < 2) {
            return;
        }
        if (c.rank() == 0) {
            byte[] msg = "hello from rank 0".getBytes(StandardCharsets.UTF_8);
            c.send(msg, 0, msg.length, 1, 3);
            c.send(new byte[0], 0, 0, 1, 4);
        } else if (c.rank() == 1) {
            byte[] buf = new byte[64];
            int n = c.recv(buf, 0, buf.length, 0, 3);
            check("hello from rank 0".equals(new String(buf, 0, n, StandardCharsets.UTF_8)),
                    "got '%s' (%d bytes)", new String(buf, 0, n, StandardCharsets.UTF_8), n);
            check(c.recv(buf, 0, buf.length, 0, 4) == 0, "empty message has a length");
        }
        c.barrier();
    }

    static void sameTagIsFifoAndTagsAreMatched(Communicator c) {
        if (c.size() < 2) {
            return;
        }
        if (c.rank() == 0) {
            for (int k = 0; k < 5; k++) {
                c.send(new float[] {k}, 0, 1, 1, 10);
            }
            c.send(new float[] {100}, 0, 1, 1, 11);
        } else if (c.rank() == 1) {
            float[] x = new float[1];
            // tag 11 was sent last but is received first: matching is by tag, not arrival.
            c.recv(x, 0, 1, 0, 11);
            check(x[0] == 100, "tag 11 carried %f", x[0]);
            for (int k = 0; k < 5; k++) {
                c.recv(x, 0, 1, 0, 10);
                check(x[0] == k, "message %d of tag 10 arrived as %f: order not kept", k, x[0]);
            }
        }
        c.barrier();
    }

    /**
     * Messages of several MB (more than one chunk of any staging buffer), one received into a posted receive, one
     * arriving before its receive is posted, and bytes beside floats; every element checked.
     */
    static void largeMessagesArriveWholeWhileReceivesArePostedLate(Communicator c) throws InterruptedException {
        if (c.size() < 2) {
            return;
        }
        int n = 3_000_001;
        if (c.rank() == 0) {
            float[] f = new float[n];
            for (int i = 0; i < n; i++) {
                f[i] = i * 0.5f - 7;
            }
            byte[] b = new byte[2_500_003];
            for (int i = 0; i < b.length; i++) {
                b[i] = (byte) (i * 31);
            }
            c.send(f, 0, n, 1, 20); // rank 1 has posted this one
            c.send(b, 0, b.length, 1, 21); // and this one only later
            c.send(f, 1, 3, 1, 22);
        } else if (c.rank() == 1) {
            float[] f = new float[n + 2];
            CommRequest r = c.irecv(f, 1, n, 0, 20);
            check(r.await() == n, "float count");
            for (int i = 0; i < n; i++) {
                check(f[i + 1] == i * 0.5f - 7, "float %d arrived as %f", i, f[i + 1]);
            }
            check(f[0] == 0 && f[n + 1] == 0, "a receive wrote outside its range");
            Thread.sleep(200); // the bytes are read aside meanwhile
            byte[] b = new byte[2_500_010];
            check(c.irecv(b, 0, b.length, 0, 21).await() == 2_500_003, "byte count");
            for (int i = 0; i < 2_500_003; i++) {
                check(b[i] == (byte) (i * 31), "byte %d arrived as %d", i, b[i]);
            }
            float[] g = new float[5];
            check(c.irecv(g, 0, 5, 0, 22).await() == 3 && g[0] == -6.5f && g[2] == -5.5f && g[3] == 0,
                    "a short message: %s", Arrays.toString(g));
        }
        c.barrier();
    }

    static void allReduceSumEqualsClosedForm(Communicator c) {
        int p = c.size();
        float[] buf = new float[37];
        for (int i = 0; i < buf.length; i++) {
            buf[i] = c.rank() * 1000 + i;
        }
        c.allReduce(buf, ReduceOp.SUM);
        for (int i = 0; i < buf.length; i++) {
            float expected = 1000f * p * (p - 1) / 2 + (float) p * i;
            check(buf[i] == expected, "sum[%d] = %f, expected %f", i, buf[i], expected);
        }
    }

    static void allReduceAverageOfLargeUnevenBuffer(Communicator c) {
        int p = c.size();
        int n = 1_000_003; // not a multiple of p; several segments per chunk
        float[] buf = new float[n];
        for (int i = 0; i < n; i++) {
            buf[i] = (c.rank() + 1) * (i % 1024);
        }
        withSegments(c, 40_000, s -> s.allReduce(buf, ReduceOp.AVERAGE));
        float factor = (p + 1) / 2f; // mean of 1..p
        for (int i = 0; i < n; i++) {
            float expected = factor * (i % 1024);
            check(Math.abs(buf[i] - expected) <= 1e-6f * Math.abs(expected), "avg[%d] = %f, expected %f", i,
                    buf[i], expected);
        }
    }

    /**
     * Runs {@code body} on a copy of {@code c} (a split of everyone) with small segments, so that messages are split
     * and streamed as with large buffers.
     */
    static void withSegments(Communicator c, int floats, java.util.function.Consumer<Communicator> body) {
        try (Communicator small = c.split(0, c.rank(), c.options().withSegmentFloats(floats))) {
            body.accept(small);
        }
    }

    static void allReduceIsBitIdenticalOnEveryRank(Communicator c) {
        int n = 5003;
        float[][] all = new float[c.size()][n];
        for (int r = 0; r < c.size(); r++) {
            Random rnd = new Random(42 + r);
            for (int i = 0; i < n; i++) {
                all[r][i] = (float) rnd.nextGaussian();
            }
        }
        float[] buf = all[c.rank()].clone();
        c.allReduce(buf, ReduceOp.SUM);
        for (int i = 0; i < n; i++) {
            double exact = 0;
            for (int r = 0; r < c.size(); r++) {
                exact += all[r][i];
            }
            check(Math.abs(buf[i] - exact) <= 1e-5 * Math.max(1, Math.abs(exact)), "sum[%d]=%f exact %f", i,
                    buf[i], exact);
        }
        ByteBuffer bits = ByteBuffer.allocate(4 * n);
        bits.asFloatBuffer().put(buf);
        byte[][] everyone = c.allGather(bits.array());
        for (int r = 0; r < c.size(); r++) {
            check(Arrays.equals(everyone[r], everyone[0]), "rank %d's result differs from rank 0's", r);
        }
    }

    static void allReduceTouchesOnlyItsRange(Communicator c) {
        float[] buf = new float[20];
        Arrays.fill(buf, -1f);
        for (int i = 5; i < 15; i++) {
            buf[i] = 1f;
        }
        c.allReduce(buf, 5, 10, ReduceOp.SUM);
        for (int i = 0; i < 20; i++) {
            float expected = i >= 5 && i < 15 ? c.size() : -1f;
            check(buf[i] == expected, "buf[%d]=%f expected %f", i, buf[i], expected);
        }
    }

    static void broadcastFromEveryRoot(Communicator c) {
        for (int root = 0; root < c.size(); root++) {
            float[] buf = new float[300_001];
            if (c.rank() == root) {
                for (int i = 0; i < buf.length; i++) {
                    buf[i] = root + i * 0.5f;
                }
            }
            final int from = root;
            withSegments(c, 50_000, s -> s.broadcast(buf, 0, buf.length, from));
            for (int i = 0; i < buf.length; i += 997) {
                check(buf[i] == root + i * 0.5f, "root %d: buf[%d]=%f", root, i, buf[i]);
            }
            byte[] text = c.broadcast(c.rank() == root ? ("plan from " + root).getBytes(StandardCharsets.UTF_8)
                    : null, root);
            check(("plan from " + root).equals(new String(text, StandardCharsets.UTF_8)), "bytes from root %d: %s",
                    root, new String(text, StandardCharsets.UTF_8));
            byte[] empty = c.broadcast(c.rank() == root ? new byte[0] : null, root);
            check(empty.length == 0, "empty broadcast arrived with %d bytes", empty.length);
        }
    }

    static void barrierWaitsForTheLastRank(Communicator c) throws InterruptedException {
        Thread.sleep(60L * c.rank());
        long entered = System.currentTimeMillis();
        c.barrier();
        long left = System.currentTimeMillis();
        byte[][] all = c.allGather(ByteBuffer.allocate(8).putLong(entered).array());
        long lastEntry = Arrays.stream(all).mapToLong(b -> ByteBuffer.wrap(b).getLong()).max().orElseThrow();
        check(left >= lastEntry, "rank %d left the barrier at %d before the last rank entered at %d", c.rank(),
                left, lastEntry);
    }

    static void splitFormsOrderedIsolatedGroups(Communicator c) {
        int color = c.rank() % 2;
        // Reverse order inside each group: the key decides the new rank.
        Communicator sub = c.split(color, -c.rank());
        int expectedSize = (c.size() + 1 - color) / 2;
        check(sub.size() == expectedSize, "group %d has size %d, expected %d", color, sub.size(), expectedSize);
        int[] members = new int[sub.size()];
        byte[][] ranks = sub.allGather(ByteBuffer.allocate(4).putInt(c.rank()).array());
        for (int i = 0; i < members.length; i++) {
            members[i] = ByteBuffer.wrap(ranks[i]).getInt();
        }
        for (int i = 1; i < members.length; i++) {
            check(members[i - 1] > members[i], "members not in key order: %s", Arrays.toString(members));
        }
        float[] x = {c.rank()};
        sub.allReduce(x, ReduceOp.SUM);
        float expected = Arrays.stream(members).sum();
        check(x[0] == expected, "sub-group sum %f, expected %f", x[0], expected);
        // The same (peer, tag) in the parent and in the sub-group must not mix.
        if (sub.size() >= 2 && sub.rank() < 2) {
            int subPeer = 1 - sub.rank();
            int worldPeer = members[subPeer];
            CommRequest worldRecv = c.irecv(new float[1], 0, 1, worldPeer, 5);
            float[] got = new float[1];
            CommRequest subRecv = sub.irecv(got, 0, 1, subPeer, 5);
            sub.send(new float[] {42}, 0, 1, subPeer, 5);
            subRecv.await();
            check(got[0] == 42, "sub-group message carried %f", got[0]);
            c.send(new float[] {7}, 0, 1, worldPeer, 5);
            worldRecv.await();
        }
        c.barrier();
    }

    static void badArgumentsAreRejected(Communicator c) {
        expectThrows(IllegalArgumentException.class, "tag -1 is out of range",
                () -> c.isend(new float[1], 0, 1, 0, -1));
        expectThrows(IllegalArgumentException.class, "tag 16777216 is out of range",
                () -> c.irecv(new float[1], 0, 1, 0, Communicator.MAX_USER_TAG + 1));
        expectThrows(IllegalArgumentException.class, "peer rank " + c.size() + " is not in group",
                () -> c.isend(new float[1], 0, 1, c.size(), 0));
        expectThrows(IndexOutOfBoundsException.class, "range [3, 6) is outside a buffer of 4",
                () -> c.isend(new float[4], 3, 3, 0, 0));
        expectThrows(IllegalArgumentException.class, "broadcast root -1 is not in group",
                () -> c.broadcast(new float[1], 0, 1, -1));
        expectThrows(IllegalArgumentException.class, "split color must be >= 0, got -2", () -> c.split(-2, 0));
    }

    static void silentPeerTimesOutNamingIt(Communicator c) {
        if (c.size() >= 2 && c.rank() == 0) {
            long t0 = System.nanoTime();
            CommRequest r = c.irecv(new float[1], 0, 1, 1, 4242); // nobody ever sends tag 4242
            try {
                r.await(Duration.ofMillis(300));
                throw new AssertionError("a receive nobody answers completed");
            } catch (CommTimeoutException e) {
                double s = (System.nanoTime() - t0) / 1e9;
                check(s >= 0.29 && s < 5, "timed out after %.2f s, expected about 0.3 s", s);
                check(e.peer() == 1 && e.tag() == 4242 && e.rank() == 0, "wrong fields: %s", e.getMessage());
                check(e.getMessage().startsWith("rank 0 of group '" + c.name() + "' timed out after 0.3 s in "
                        + "recv from with peer rank 1 (tag 4242)"), "message: %s", e.getMessage());
            }
        }
        c.barrier();
    }

    static void expectThrows(Class<? extends Throwable> type, String messagePart, Runnable body) {
        try {
            body.run();
        } catch (Throwable t) {
            check(type.isInstance(t) && String.valueOf(t.getMessage()).contains(messagePart),
                    "expected %s containing '%s', got %s", type.getSimpleName(), messagePart, t);
            return;
        }
        throw new AssertionError("expected " + type.getSimpleName() + " containing '" + messagePart + "'");
    }
}
