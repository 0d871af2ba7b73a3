package io.smp4j.core;

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
 * is the same everywhere. The last stage keeps each microbatch's values (moved out of the microbatch's scope, which
 * closes after its backward) and sends them all once the step is done: reading them earlier would stop the step at a
 * device synchronisation between forward and backward. Every other rank decodes the same bytes.
 */
final class OutputBroadcast {
    private final NDManager manager;
    private final List<NDList> kept;

    /** @param manager where the step's output arrays live */
    OutputBroadcast(int microbatches, NDManager manager) {
        this.manager = manager;
        this.kept = new ArrayList<>(microbatches);
        for (int i = 0; i < microbatches; i++) {
            kept.add(null);
        }
    }

    /** On the last stage: keeps microbatch {@code mb}'s return value (an NDArray, NDList, NDArray[], number). */
    void record(int mb, Object returned) {
        NDList values = returned instanceof NDArray a ? new NDList(a)
                : returned instanceof NDList l ? l
                : returned instanceof NDArray[] arr ? new NDList(arr)
                : returned instanceof Number n ? new NDList(manager.create(n.floatValue()))
                : new NDList();
        NDList own = new NDList(values.size());
        for (NDArray a : values) {
            // A copy outside autograd: the value outlives its microbatch's graph and scope.
            NDArray c = a.stopGradient().duplicate();
            c.attach(manager);
            own.add(c);
        }
        kept.set(mb, own);
    }

    /** Collective over {@code pipeline}: every microbatch's values, on every rank, as arrays of the manager. */
    List<NDList> broadcast(Communicator pipeline) {
        if (pipeline.size() == 1) {
            return kept;
        }
        int last = pipeline.size() - 1;
        byte[] message = null;
        if (pipeline.rank() == last) {
            byte[][] encoded = new byte[kept.size()][];
            int bytes = 4;
            for (int i = 0; i < encoded.length; i++) {
                encoded[i] = TensorCodec.encode(kept.get(i));
                bytes += 4 + encoded[i].length;
            }
            ByteBuffer b = ByteBuffer.allocate(bytes).putInt(encoded.length);
            for (byte[] e : encoded) {
                b.putInt(e.length).put(e);
            }
            message = b.array();
        }
        ByteBuffer b = ByteBuffer.wrap(pipeline.broadcast(message, last));
        if (pipeline.rank() == last) {
            return kept;
        }
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
