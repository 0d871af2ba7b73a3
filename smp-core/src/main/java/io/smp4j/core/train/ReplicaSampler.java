package io.smp4j.core.train;

import ai.djl.training.dataset.RandomAccessDataset;
import ai.djl.training.dataset.Sampler;
import io.smp4j.core.Smp;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Random;

/**
 * A data-parallel replica's share of a DJL dataset, as PyTorch's {@code DistributedSampler} gives it (SageMaker's
 * example uses one): each epoch, a seeded permutation of the dataset, cut into global batches of {@code batchSize x
 * replicas}; replica r takes the r-th contiguous slice of each. It depends only on the seed, the epoch and the
 * replica, so every stage of a pipeline and every layout of one job sees the same samples; a last partial global batch
 * is dropped (every batch must divide into microbatches).
 *
 * <pre>{@code
 * ReplicaSampler sampler = new ReplicaSampler(smp, 32, 7);   // 32 samples per replica per step, seed 7
 * for (int epoch = 0; epoch < epochs; epoch++) {
 *     sampler.setEpoch(epoch);
 *     for (Batch b : dataset.getData(manager, sampler)) { ... b.close(); }
 * }
 * }</pre>
 */
public final class ReplicaSampler implements Sampler {
    private final int replica;
    private final int replicas;
    private final int batchSize;
    private final long seed;
    private int epoch;
    private int[] perm;
    private long permSize = -1;
    private int permEpoch = -1;

    /** This rank's replica ({@code smp.dpRank()} of {@code smp.dpSize()}). */
    public ReplicaSampler(Smp smp, int batchSize, long seed) {
        this(smp.dpRank(), smp.dpSize(), batchSize, seed);
    }

    public ReplicaSampler(int replica, int replicas, int batchSize, long seed) {
        if (replicas < 1 || replica < 0 || replica >= replicas || batchSize < 1) {
            throw new IllegalArgumentException("replica " + replica + " of " + replicas + " with batches of "
                    + batchSize + ": need 0 <= replica < replicas and batchSize >= 1");
        }
        this.replica = replica;
        this.replicas = replicas;
        this.batchSize = batchSize;
        this.seed = seed;
    }

    /** The epoch {@link #sample} walks (PyTorch's {@code set_epoch}): each has its own permutation. */
    public void setEpoch(int epoch) {
        this.epoch = epoch;
    }

    @Override
    public int getBatchSize() {
        return batchSize;
    }

    /** Whole global batches of a dataset of {@code size} samples per epoch. */
    public int stepsPerEpoch(long size) {
        return Math.toIntExact(size / ((long) batchSize * replicas));
    }

    /**
     * The samples this replica trains on at step {@code step} counted from the first epoch (epoch = step / steps per
     * epoch), for a dataset of {@code size} samples.
     */
    public int[] indices(long size, int step) {
        int per = stepsPerEpoch(size);
        if (per == 0) {
            throw new IllegalArgumentException("a dataset of " + size + " samples has no whole global batch of "
                    + (long) batchSize * replicas + " (" + batchSize + " per replica x " + replicas + " replicas)");
        }
        int[] p = permutation(size, step / per);
        int from = (step % per) * batchSize * replicas + replica * batchSize;
        return Arrays.copyOfRange(p, from, from + batchSize);
    }

    @Override
    public Iterator<List<Long>> sample(RandomAccessDataset dataset) {
        long size = dataset.size();
        int per = stepsPerEpoch(size);
        List<List<Long>> batches = new ArrayList<>(per);
        for (int s = 0; s < per; s++) {
            List<Long> b = new ArrayList<>(batchSize);
            for (int i : indices(size, epoch * per + s)) {
                b.add((long) i);
            }
            batches.add(b);
        }
        return batches.iterator();
    }

    private int[] permutation(long size, int e) {
        if (e != permEpoch || size != permSize) {
            perm = new int[Math.toIntExact(size)];
            for (int i = 0; i < perm.length; i++) {
                perm[i] = i;
            }
            Random r = new Random(seed * 7919L + e);
            for (int i = perm.length - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
            permEpoch = e;
            permSize = size;
        }
        return perm;
    }
}
