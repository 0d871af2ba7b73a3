package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.smp4j.comm.CommRequest;
import java.util.List;

/**
 * A path for a stage's tensors that does not pass through host memory, such as CUDA IPC between the GPUs of one host.
 * {@link StageLink} uses it for the peers it {@link #reaches}; both ends must agree on that (the implementations decide
 * it collectively). Messages of one slot (a direction and a microbatch) are in flight one at a time: a slot is reused
 * only after the requests {@link #send} added have completed.
 */
public interface DeviceLink {
    /** Whether this link carries the arrays between this rank and {@code peer} (a rank of the pipeline group). */
    boolean reaches(int peer);

    /**
     * Starts sending {@code arrays} to {@code peer} for {@code slot}, announcing them on {@code tag}; {@code ackTag}
     * carries the peer's acknowledgement back. Appends the requests to await before the slot is used again.
     */
    void send(NDList arrays, int peer, long slot, int tag, int ackTag, List<CommRequest> pending);

    /** Receives what {@code peer} sent for {@code slot}, as arrays of {@code scope} (on its device). */
    NDList recv(NDManager scope, int peer, long slot, int tag, int ackTag);
}
