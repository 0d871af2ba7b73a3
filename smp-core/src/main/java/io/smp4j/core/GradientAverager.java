package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import io.smp4j.comm.Communicator;
import io.smp4j.comm.ReduceOp;
import io.smp4j.pipeline.djl.DjlInternals;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.List;

/**
 * Averages a stage's gradients over its data-parallel group through one flat, reused buffer: read out, one
 * all-reduce (shared memory on one host, the ring across hosts), written back. A contiguous CPU gradient is read and
 * written through a direct view of its memory (one pass each way); any other is read through DJL's copy and written
 * back with in-place arithmetic, which respects its layout (a raw copy would not).
 */
final class GradientAverager {
    /** Where one averaging spent its time, in milliseconds. */
    record Times(double copyMillis, double allReduceMillis) {
    }

    private float[] flat = new float[0];
    private ByteBuffer staging = ByteBuffer.allocate(0);

    Times average(Communicator group, List<Parameter> params) {
        long t0 = System.nanoTime();
        int total = 0;
        for (Parameter p : params) {
            total += Math.toIntExact(p.getArray().size());
        }
        // Reused: a fresh 45 MB array per step costs a zeroing pass and G1 humongous allocations.
        if (flat.length != total) {
            flat = new float[total];
        }
        NDArray[] grads = new NDArray[params.size()];
        FloatBuffer[] views = new FloatBuffer[params.size()];
        try {
            int at = 0;
            for (int i = 0; i < grads.length; i++) {
                NDArray g = grads[i] = DjlInternals.gradient(params.get(i).getArray());
                int n = Math.toIntExact(g.size());
                views[i] = DjlInternals.writableView(g);
                if (views[i] != null) {
                    views[i].duplicate().get(flat, at, n);
                } else {
                    ByteBuffer b = staging(n);
                    DjlInternals.copyToHost(g, b);
                    b.flip();
                    b.asFloatBuffer().get(flat, at, n);
                }
                at += n;
            }
            long t1 = System.nanoTime();
            group.allReduce(flat, ReduceOp.AVERAGE);
            long t2 = System.nanoTime();
            at = 0;
            for (int i = 0; i < grads.length; i++) {
                NDArray g = grads[i];
                int n = Math.toIntExact(g.size());
                if (views[i] != null) {
                    views[i].clear();
                    views[i].put(flat, at, n);
                } else {
                    try (NDManager scratch = g.getManager().newSubManager();
                         NDArray avg = scratch.create(FloatBuffer.wrap(flat, at, n), g.getShape())
                                 .toDevice(g.getDevice(), false)) {
                        g.subi(g).addi(avg);
                    }
                }
                at += n;
            }
            long t3 = System.nanoTime();
            return new Times((t1 - t0 + t3 - t2) / 1e6, (t2 - t1) / 1e6);
        } finally {
            for (NDArray g : grads) {
                if (g != null) {
                    g.close();
                }
            }
        }
    }

    private ByteBuffer staging(int floats) {
        if (staging.capacity() < 4 * floats) {
            staging = ByteBuffer.allocate(4 * floats).order(ByteOrder.nativeOrder());
        }
        staging.clear();
        return staging;
    }
}
