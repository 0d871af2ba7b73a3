package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import io.smp4j.comm.Communicator;
import io.smp4j.comm.ReduceOp;
import io.smp4j.pipeline.djl.DjlInternals;
import io.smp4j.pipeline.exec.HostStaging;
import java.util.List;
import java.util.function.Consumer;

/**
 * Averages a stage's gradients over its data-parallel group through one flat, reused buffer: read out, one
 * all-reduce (shared memory on one host, the ring across hosts), written back in place (through direct views of a
 * contiguous CPU gradient's memory, one pass each way; see {@link DjlInternals#readFloats}).
 */
final class GradientAverager {
    /** Where one averaging spent its time, in milliseconds. */
    record Times(double copyMillis, double allReduceMillis) {
    }

    private float[] flat = new float[0];

    /** Averages the gradients of {@code params} in place over {@code group}, through {@code staging}. */
    Times average(Communicator group, List<Parameter> params, HostStaging staging) {
        int total = 0;
        for (Parameter p : params) {
            total += Math.toIntExact(p.getArray().size());
        }
        return average(group, total, f -> copyGradients(params, f, 0, true, staging),
                f -> copyGradients(params, f, 0, false, staging));
    }

    /**
     * Averages one flat gradient array (float32) in place over {@code group}: one copy out, one back, through
     * {@code staging} (pinned buffers on a GPU).
     */
    Times average(Communicator group, NDArray flatGradients, HostStaging staging) {
        return average(group, Math.toIntExact(flatGradients.size()), f -> staging.toHost(flatGradients, f, 0),
                f -> staging.toDevice(f, 0, flatGradients));
    }

    /** Reads {@code total} floats out into the reused buffer, all-reduces them, writes them back; timed. */
    private Times average(Communicator group, int total, Consumer<float[]> out, Consumer<float[]> in) {
        long t0 = System.nanoTime();
        // Reused: a fresh 45 MB array per step costs a zeroing pass and G1 humongous allocations.
        if (flat.length != total) {
            flat = new float[total];
        }
        out.accept(flat);
        long t1 = System.nanoTime();
        group.allReduce(flat, ReduceOp.AVERAGE);
        long t2 = System.nanoTime();
        in.accept(flat);
        long t3 = System.nanoTime();
        return new Times((t1 - t0 + t3 - t2) / 1e6, (t2 - t1) / 1e6);
    }

    /**
     * Reads the gradients of {@code params}, one after another, into {@code flat} from {@code offset} ({@code out}),
     * or writes that range back into them.
     */
    static void copyGradients(List<Parameter> params, float[] flat, int offset, boolean out, HostStaging staging) {
        int at = offset;
        for (Parameter p : params) {
            try (NDArray g = DjlInternals.gradient(p.getArray())) {
                if (out) {
                    staging.toHost(g, flat, at);
                } else {
                    staging.toDevice(flat, at, g);
                }
                at += Math.toIntExact(g.size());
            }
        }
    }
}
