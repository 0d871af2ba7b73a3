package io.smp4j.core.step;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.smp4j.comm.Communicator;
import io.smp4j.pipeline.wire.TensorCodec;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Sends what the step body returned on the last stage to every rank of the pipeline group, so that a step's output
 * is the same everywhere. The last stage encodes each microbatch's values as soon as they exist (their arrays die with
 * the microbatch's scope) and broadcasts them at the end; every rank, the last included, decodes the same bytes.
 */
final class OutputBroadcast {
    private final byte[][] encoded;

    OutputBroadcast(int microbatches) {
        encoded = new byte[microbatches][];
    }

    /** On the last stage: records microbatch {@code mb}'s return value (an NDArray, NDList, NDArray[], number). */
    void record(int mb, Object returned, NDManager scope) {
        NDList values = returned instanceof NDArray a ? new NDList(a)
                : returned instanceof NDList l ? l
                : returned instanceof NDArray[] arr ? new NDList(arr)
                : returned instanceof Number n ? new NDList(scope.create(n.floatValue()))
                : new NDList();
        encoded[mb] = TensorCodec.encode(values);
    }

    /** Collective over {@code pipeline}: every microbatch's values, on every rank, as arrays of {@code manager}. */
    List<NDList> broadcast(Communicator pipeline, NDManager manager) {
        int last = pipeline.size() - 1;
        byte[] message = null;
        if (pipeline.rank() == last) {
            int bytes = 4;
            for (byte[] e : encoded) {
                bytes += 4 + e.length;
            }
            ByteBuffer b = ByteBuffer.allocate(bytes).putInt(encoded.length);
            for (byte[] e : encoded) {
                b.putInt(e.length).put(e);
            }
            message = b.array();
        }
        ByteBuffer b = ByteBuffer.wrap(pipeline.broadcast(message, last));
        int n = b.getInt();
        List<NDList> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            byte[] e = new byte[b.getInt()];
            b.get(e);
            out.add(TensorCodec.decode(manager, e));
        }
        return out;
    }
}
