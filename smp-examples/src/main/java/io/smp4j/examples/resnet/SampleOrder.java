package io.smp4j.examples.resnet;

import java.util.Arrays;
import java.util.Random;

/**
 * Which images a step trains on: a seeded permutation of the training set per epoch, cut into global batches; replica
 * r takes the r-th contiguous slice of each. Depends only on the seed, so any layout of one job sees the same data.
 */
final class SampleOrder {
    private final long seed;
    private final int images;
    private final int globalBatch;
    private final int replicaBatch;
    private int[] perm;
    private int permEpoch = -1;

    SampleOrder(long seed, int images, int globalBatch, int replicaBatch) {
        this.seed = seed;
        this.images = images;
        this.globalBatch = globalBatch;
        this.replicaBatch = replicaBatch;
    }

    /** Whole global batches per epoch. */
    int stepsPerEpoch() {
        return images / globalBatch;
    }

    /** The images replica {@code replica} trains on at step {@code step} (from 0). */
    int[] step(int step, int replica) {
        int epoch = step / stepsPerEpoch();
        if (epoch != permEpoch) {
            perm = new int[images];
            for (int i = 0; i < perm.length; i++) {
                perm[i] = i;
            }
            Random r = new Random(seed * 7919L + epoch);
            for (int i = perm.length - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
            permEpoch = epoch;
        }
        int from = (step % stepsPerEpoch()) * globalBatch + replica * replicaBatch;
        return Arrays.copyOfRange(perm, from, from + replicaBatch);
    }
}
