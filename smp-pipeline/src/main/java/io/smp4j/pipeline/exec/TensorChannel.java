package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.smp4j.comm.CommRequest;
import io.smp4j.comm.Communicator;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * Moves float32 tensors between neighbouring stages: a small header (shape and a checksum of the data, verified on
 * arrival) then the data, each with its own
 * tag. Tags are derived from the microbatch and the direction, so a stage can have several microbatches in flight;
 * the same tags recur every step, and MPI's in-order delivery per (peer, tag) keeps steps apart.
 */
final class TensorChannel {
    private final Communicator group;

    TensorChannel(Communicator group) {
        this.group = group;
    }

    static int tag(boolean activation, int microbatch, boolean header) {
        return 4 * microbatch + (activation ? 0 : 2) + (header ? 0 : 1);
    }

    /** Starts sending; the returned requests must be awaited before the step ends. */
    void send(NDArray x, int peer, boolean activation, int microbatch, List<CommRequest> pending) {
        long[] dims = x.getShape().getShape();
        float[] data = x.toFloatArray();
        ByteBuffer header = ByteBuffer.allocate(4 + 8 * dims.length + 4).putInt(dims.length);
        for (long d : dims) {
            header.putLong(d);
        }
        header.putInt(java.util.Arrays.hashCode(data));
        pending.add(group.isend(header.array(), 0, header.capacity(), peer, tag(activation, microbatch, true)));
        pending.add(group.isend(data, 0, data.length, peer, tag(activation, microbatch, false)));
    }

    NDArray recv(NDManager manager, int peer, boolean activation, int microbatch) {
        byte[] header = new byte[4 + 8 * 8 + 4];
        group.recv(header, 0, header.length, peer, tag(activation, microbatch, true));
        ByteBuffer b = ByteBuffer.wrap(header);
        long[] dims = new long[b.getInt()];
        for (int i = 0; i < dims.length; i++) {
            dims[i] = b.getLong();
        }
        Shape shape = new Shape(dims);
        float[] data = new float[Math.toIntExact(shape.size())];
        int n = group.recv(data, 0, data.length, peer, tag(activation, microbatch, false));
        if (n != data.length) {
            throw new IllegalStateException("received " + n + " floats for a tensor of shape " + shape + " from rank "
                    + peer + " (microbatch " + microbatch + ")");
        }
        int expected = b.getInt();
        if (java.util.Arrays.hashCode(data) != expected) {
            throw new IllegalStateException("the " + (activation ? "activation" : "gradient") + " of microbatch "
                    + microbatch + " from rank " + peer + " arrived corrupted (checksum mismatch)");
        }
        // An array made from a Java array is backed by a direct buffer that only its Java object keeps alive, while
        // autograd keeps native references to it: copy it into memory the engine owns.
        try (NDArray wrapped = manager.create(data, shape)) {
            return wrapped.duplicate();
        }
    }
}
