package io.smp4j.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import io.smp4j.pipeline.djl.DjlInternals;
import java.util.ArrayList;
import java.util.List;

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

    /**
     * Cuts every array of {@code batch} along {@code axis} into {@code microbatches} equal parts: element i of the
     * result holds part i of each array.
     *
     * <p>The parts are copies that own their memory, not views (see {@link DjlInternals#owned}): a view of a batch made
     * from Java memory dies with the batch's Java object while the pipeline still runs (seen: NaN gradients under
     * load).
     */
    public static List<NDList> split(NDList batch, int microbatches, int axis) {
        List<NDList> parts = new ArrayList<>();
        for (int i = 0; i < microbatches; i++) {
            parts.add(new NDList());
        }
        for (NDArray a : batch) {
            if (axis < 0 || axis >= a.getShape().dimension()) {
                throw new IllegalArgumentException("cannot split an array of shape " + a.getShape() + " along axis "
                        + axis);
            }
            int n = Math.toIntExact(a.getShape().get(axis));
            int size = size(n, microbatches);
            for (int i = 0; i < microbatches; i++) {
                NDIndex index = new NDIndex();
                for (int d = 0; d < axis; d++) {
                    index.addAllDim();
                }
                index.addSliceDim(i * size, (i + 1) * size);
                parts.get(i).add(DjlInternals.owned(a.get(index)));
            }
        }
        return parts;
    }
}
