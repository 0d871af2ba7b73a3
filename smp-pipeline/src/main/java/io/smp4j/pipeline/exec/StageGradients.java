package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import io.smp4j.pipeline.djl.DjlInternals;
import io.smp4j.pipeline.wire.TensorCodec;

/** The gradients that cross a stage boundary, for {@link PipelineExecutor}. */
final class StageGradients {
    private StageGradients() {
    }

    /**
     * The scalar whose backward gives this stage the gradients the next stage sent: sum over the floating-point
     * outputs of (output x its upstream gradient), summed.
     */
    static NDArray backwardTarget(InFlight f, int mb, String stage) {
        NDList out = f.result.output();
        NDList grads = f.upstreamGradients;
        NDArray target = null;
        int g = 0;
        for (NDArray o : out) {
            if (!o.getDataType().isFloating()) {
                continue;
            }
            if (g >= grads.size()) {
                throw new IllegalStateException(stage + " got "
                        + grads.size() + " gradient(s) for microbatch " + mb + " but has more floating-point outputs: "
                        + TensorCodec.Header.of(out));
            }
            NDArray term = o.mul(grads.get(g++)).sum();
            target = target == null ? term : target.add(term);
        }
        if (target == null || g != grads.size()) {
            throw new IllegalStateException(stage + " got "
                    + grads.size() + " gradient(s) for microbatch " + mb + " but its outputs are "
                    + TensorCodec.Header.of(out));
        }
        return target;
    }

    /** Makes the floating-point arrays of a received stage input leaves that collect their gradients. */
    static void requireGradients(NDList input) {
        for (NDArray x : input) {
            if (x.getDataType().isFloating()) {
                x.setRequiresGradient(true);
            }
        }
    }

    /** The gradients of the floating-point inputs, in input order. */
    static NDList inputGradients(InFlight f) {
        NDList grads = new NDList();
        for (NDArray x : f.input) {
            if (x.getDataType().isFloating()) {
                NDArray g = DjlInternals.gradient(x);
                g.attach(f.scope);
                grads.add(g);
            }
        }
        return grads;
    }
}
