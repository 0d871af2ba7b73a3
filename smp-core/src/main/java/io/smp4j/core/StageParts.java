package io.smp4j.core;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import io.smp4j.pipeline.exec.PipelineExecutor;
import java.util.List;

/**
 * What a {@link DistributedModel} gives its executor besides the plan, chosen once from the configuration and given
 * again to each executor re-partitioning builds: the data-parallel average overlapped with backward, and half
 * precision's parameter store. Each is null when off.
 */
final class StageParts {
    private final OverlappedAllReduce overlap;
    private final HalfPrecision half;

    private StageParts(OverlappedAllReduce overlap, HalfPrecision half) {
        this.overlap = overlap;
        this.half = half;
    }

    static StageParts of(Smp smp, NDManager manager) {
        SmpConfig c = smp.config();
        if (c.bf16() || c.fp16()) {
            // Gradients reach the fp32 masters only after backward: nothing to all-reduce during it.
            return new StageParts(null, new HalfPrecision(manager, c.bf16() ? DataType.BFLOAT16 : DataType.FLOAT16));
        }
        boolean overlapped = c.ddp() && smp.dpSize() > 1 && c.overlapAllReduce()
                && !smp.deviceResources().gradientsOnGpus();
        return new StageParts(overlapped ? new OverlappedAllReduce(smp.dataParallelGroup(), c.bucketCapMb(),
                smp.deviceResources().hostCopies()) : null, null);
    }

    /** Gives {@code executor} the parts; {@code local}: the rank's parameters under its plan. */
    void attach(PipelineExecutor executor, List<Parameter> local) {
        if (overlap != null) {
            executor.setGradientsReady(overlap);
        }
        if (half != null) {
            executor.setParameterStore(half);
            half.defineMasterGradients(local);
        }
    }

    /** The last step's overlapped gradient average (once), or null when that step's gradients were not averaged. */
    OverlappedAllReduce.Result takeOverlapped() {
        return overlap == null ? null : overlap.take();
    }

    HalfPrecision half() {
        return half;
    }
}
