package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.smp4j.pipeline.djl.DjlInternals;

/**
 * What the last stage multiplies each microbatch's loss by before backward: 1/M (microbatches average), times fp16's
 * loss scale. The factor is an array made once on the model's device (creating a scalar there is a blocking
 * host-to-device copy, and one per microbatch would stall a GPU's queue every time), held as long as any graph may use
 * it, and made again only when the scale changes.
 */
final class LossScale {
    private NDArray factor;
    private float scaling = 1f;

    NDArray apply(NDArray loss, int microbatches, NDManager manager) {
        if (microbatches == 1 && scaling == 1f) {
            return loss; // x * 1 == x: nothing to scale
        }
        if (factor == null || !factor.getDevice().equals(loss.getDevice())) {
            factor = DjlInternals.scalar(manager, scaling / microbatches);
        }
        return loss.mul(factor);
    }

    /** A new loss scale (fp16); the previous step's graphs, the only users of the old factor, are done. */
    void scaling(float scale) {
        if (scale != scaling) {
            scaling = scale;
            if (factor != null) {
                factor.close();
                factor = null;
            }
        }
    }
}
