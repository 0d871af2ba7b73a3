package io.smp4j.comm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.smp4j.comm.local.LocalCluster;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The shared-memory all-reduce sums every element in rank order, x0 + x1 + ... + x(p-1), then scales: the bits of an
 * element depend neither on which rank reduces its chunk nor on the buffer's length. So an all-reduce of a buffer
 * equals, bit for bit, the all-reduces of its slices (what the gradient all-reduce overlapped with backward relies on:
 * buckets instead of one flat buffer) and the sum a single process makes in rank order.
 */
class SharedMemoryOrderTest {
    @ParameterizedTest(name = "{0} ranks")
    @ValueSource(ints = {2, 3, 4, 5})
    void wholeBufferSlicesAndRankOrderSumAgreeBitwise(int p) throws Exception {
        int n = 100_003;
        int[] cuts = {0, 17, 40_000, 40_001, 77_777, n};
        new LocalCluster(p, CommOptions.defaults().withTimeout(Duration.ofSeconds(20))
                .withAllReduce(AllReduceAlgorithm.SHM)).run(c -> {
            float[][] all = new float[p][];
            for (int r = 0; r < p; r++) {
                all[r] = values(r, n);
            }
            float[] whole = all[c.rank()].clone();
            c.allReduce(whole, ReduceOp.AVERAGE);
            float[] sliced = all[c.rank()].clone();
            for (int k = 0; k + 1 < cuts.length; k++) {
                c.allReduce(sliced, cuts[k], cuts[k + 1] - cuts[k], ReduceOp.AVERAGE);
            }
            float scale = 1.0f / p;
            for (int i = 0; i < n; i++) {
                float sum = all[0][i];
                for (int r = 1; r < p; r++) {
                    sum += all[r][i];
                }
                float expected = sum * scale;
                assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(whole[i]),
                        "element " + i + " of the whole buffer on rank " + c.rank());
                assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(sliced[i]),
                        "element " + i + " of the slices on rank " + c.rank());
            }
        });
    }

    private static float[] values(int rank, int n) {
        Random rnd = new Random(1234 + rank);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (rnd.nextGaussian() * Math.exp(rnd.nextGaussian() * 3));
        }
        return v;
    }
}
