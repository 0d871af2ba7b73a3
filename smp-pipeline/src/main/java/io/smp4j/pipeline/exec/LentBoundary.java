package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import io.smp4j.comm.CommRequest;
import io.smp4j.pipeline.djl.DjlInternals;
import java.util.List;

/**
 * A rank's part in lent boundary units ({@link io.smp4j.pipeline.partition.PartitionPlan#lent}): a boundary inside
 * one unit, for balance finer than a unit. Unit u, the last of stage s-1 (its owner), runs on stage s for the first
 * {@code k} microbatches of each step and on stage s-1 for the others. What keeps the results those of one process
 * (bitwise): the forward and input gradient of u are the same kernels on the same inputs wherever they run; the owner
 * sends u's parameters to stage s at the start of every step (after its update), so that the replica computes with the
 * same values; and u's gradient, a sum over microbatches in order, is summed over 0..k-1 on stage s, which sends that
 * partial sum to the owner as soon as its backward of k-1 ran; the owner adds it to its gradient right after its
 * backward of microbatch k (which needs stage s's backward of k first, so the sum is there; {@code S + g_k = g_k + S}
 * exactly), and the sum goes on in order. Only the owner all-reduces and updates u. k is at most M-2: the owner's
 * last backward, which an overlapped all-reduce may cut into buckets, comes after the sum is complete.
 *
 * @param in          microbatches that run the previous stage's last unit here (0: none)
 * @param replica     that unit's parameters here (empty when {@code in} is 0)
 * @param out         microbatches that run this stage's last unit on the next stage (0: none)
 * @param owned       that unit's parameters (empty when {@code out} is 0)
 * @param variants    the blocks to run: index {@code (mb < in ? 1 : 0) | (mb < out ? 2 : 0)}; index 0 is the stage
 */
public record LentBoundary(int in, List<Parameter> replica, int out, List<Parameter> owned, Block[] variants) {
    /** Stage links' slot of the lent unit's messages (parameters forward, gradient sums back): past every microbatch's. */
    static final int SLOT = 1 << 20;

    public LentBoundary {
        replica = List.copyOf(replica);
        owned = List.copyOf(owned);
        if (variants.length != 4 || variants[0] == null || (in > 0 && variants[1] == null)
                || (out > 0 && variants[2] == null) || (in > 0 && out > 0 && variants[3] == null)) {
            throw new IllegalArgumentException("a lent boundary needs the stage and its variants for in " + in
                    + " and out " + out);
        }
    }

    /**
     * At a step's start: the owner sends its unit's parameters (updated by the last step) to the next stage; a stage
     * with a replica takes them and, in training, zeroes the replica's gradient (sent to the owner each step).
     */
    void start(StageLink link, int stage, NDManager manager, boolean training, int microbatches,
               List<CommRequest> sends) {
        if (training && Math.max(in, out) > microbatches - 2) {
            throw new IllegalStateException("a unit lent for " + Math.max(in, out) + " of " + microbatches
                    + " microbatches: allowed 1.." + (microbatches - 2) + " (its owner runs it for at least the last "
                    + "two)");
        }
        if (out > 0) {
            link.send(values(owned), stage + 1, StageLink.Direction.ACTIVATION, SLOT, sends);
        }
        if (in > 0) {
            try (NDManager values = manager.newSubManager()) {
                overwrite(replica, link.recv(values, stage - 1, StageLink.Direction.ACTIVATION, SLOT));
            }
            if (training) {
                replica.forEach(p -> DjlInternals.zeroGradient(p.getArray()));
            }
        }
    }

    /**
     * After this stage's backward of microbatch {@code mb}: a replica sends its gradient sum once it covers
     * microbatches 0..in-1 (returned: handles to close once the send completed); the owner adds the next stage's sum
     * right after its backward of microbatch {@code out} (a + b = b + a exactly), from where the sum goes on in
     * microbatch order. After, not before, the backward: until a backward wrote it, a gradient may not exist yet
     * (DJL then hands out a detached zero array).
     */
    NDList afterBackward(int mb, StageLink link, int stage, NDManager manager, List<CommRequest> sends) {
        if (out > 0 && mb == out) {
            try (NDManager sums = manager.newSubManager()) {
                accumulate(owned, link.recv(sums, stage + 1, StageLink.Direction.GRADIENT, SLOT));
            }
        }
        if (in > 0 && mb == in - 1) {
            NDList sums = gradients(replica);
            link.send(sums, stage - 1, StageLink.Direction.GRADIENT, SLOT, sends);
            return sums;
        }
        return null;
    }

    /** The block microbatch {@code mb} runs. */
    Block block(int mb) {
        return variants[(mb < in ? 1 : 0) | (mb < out ? 2 : 0)];
    }

    /** The parameters' values, as arrays to send (handles on the parameters themselves). */
    static NDList values(List<Parameter> params) {
        NDList out = new NDList(params.size());
        params.forEach(p -> out.add(p.getArray()));
        return out;
    }

    /** Overwrites {@code params} in place with {@code values} (the owner's, just received). */
    static void overwrite(List<Parameter> params, NDList values) {
        check(params, values, "parameters");
        for (int i = 0; i < params.size(); i++) {
            DjlInternals.overwrite(params.get(i).getArray(), values.get(i).toByteBuffer());
        }
    }

    /** Gradient handles of {@code params} (close them after use). */
    static NDList gradients(List<Parameter> params) {
        NDList out = new NDList(params.size());
        params.forEach(p -> out.add(DjlInternals.gradient(p.getArray())));
        return out;
    }

    /** Adds the partial sums received from the next stage into {@code params}' gradients. */
    static void accumulate(List<Parameter> params, NDList sums) {
        check(params, sums, "gradient sums");
        try (NDList grads = gradients(params)) {
            for (int i = 0; i < params.size(); i++) {
                grads.get(i).addi(sums.get(i));
            }
        }
    }

    private static void check(List<Parameter> params, NDList arrays, String what) {
        if (arrays.size() != params.size()) {
            throw new IllegalStateException("the lent unit's " + what + " arrived as " + arrays.size()
                    + " arrays; it has " + params.size() + " parameters");
        }
        for (int i = 0; i < params.size(); i++) {
            NDArray a = arrays.get(i);
            if (!a.getShape().equals(params.get(i).getArray().getShape())) {
                throw new IllegalStateException("the lent unit's " + what + " arrived with shape " + a.getShape()
                        + " for parameter " + params.get(i).getName() + " of shape "
                        + params.get(i).getArray().getShape());
            }
        }
    }
}
