package io.smp4j.pipeline;

/** Microbatch arithmetic: a batch of {@code batchSize} samples cut into {@code microbatches} equal parts. */
public final class Microbatches {
    private Microbatches() {
    }

    /** Samples per microbatch; a batch that does not divide evenly is an error naming both numbers. */
    public static int size(int batchSize, int microbatches) {
        if (microbatches < 1) {
            throw new IllegalArgumentException("microbatches must be >= 1, got " + microbatches);
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        }
        if (batchSize % microbatches != 0) {
            throw new IllegalArgumentException("batch size " + batchSize + " is not divisible by microbatches "
                    + microbatches + ": every microbatch must have the same size; use a batch size that is a "
                    + "multiple of " + microbatches + " (e.g. drop the last incomplete batch)");
        }
        return batchSize / microbatches;
    }

    /** First sample of microbatch {@code index}. */
    public static int start(int batchSize, int microbatches, int index) {
        if (index < 0 || index >= microbatches) {
            throw new IllegalArgumentException("microbatch " + index + " is not in 0.." + (microbatches - 1));
        }
        return index * size(batchSize, microbatches);
    }
}
