package io.smp4j.core;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import io.smp4j.pipeline.Microbatches;
import java.util.ArrayList;
import java.util.List;

/**
 * A step's arguments cut into microbatches: every NDArray/NDList argument moved to the model's device and split along
 * its axis (a batch that does not divide fails here, before any work), the others passed as they are. The parts are
 * copies (with one microbatch and the batch already on the device, the batch itself); {@link #close} frees them.
 */
final class MicrobatchArguments implements AutoCloseable {
    private final Object[] whole;
    private final List<Object[]> parts = new ArrayList<>();

    MicrobatchArguments(StepSignature signature, Object[] args, int microbatches, Device device) {
        this.whole = args;
        for (int k = 0; k < microbatches; k++) {
            parts.add(args.clone());
        }
        try {
            for (int i = 0; i < args.length; i++) {
                int axis = signature.axes()[i];
                if (axis == StepSignature.WHOLE || args[i] == null) {
                    continue;
                }
                NDList list = args[i] instanceof NDArray a ? new NDList(a) : (NDList) args[i];
                List<NDList> cut;
                if (onDevice(list, device) && microbatches == 1) {
                    parts.get(0)[i] = args[i]; // one microbatch: the batch itself, no copy (the caller owns it)
                    continue;
                } else if (onDevice(list, device)) {
                    cut = Microbatches.split(list, microbatches, axis);
                } else {
                    // One copy of the whole batch to the device, then the cuts there (one transfer, not M).
                    try (NDList moved = list.toDevice(device, true)) {
                        cut = Microbatches.split(moved, microbatches, axis);
                    }
                }
                for (int k = 0; k < microbatches; k++) {
                    parts.get(k)[i] = args[i] instanceof NDArray ? cut.get(k).head() : cut.get(k);
                }
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private static boolean onDevice(NDList list, Device device) {
        for (NDArray a : list) {
            if (!a.getDevice().equals(device)) {
                return false;
            }
        }
        return true;
    }

    /** The arguments of microbatch {@code k}. */
    Object[] of(int k) {
        return parts.get(k);
    }

    @Override
    public void close() {
        for (Object[] p : parts) {
            for (int i = 0; i < p.length; i++) {
                if (p[i] != whole[i] && p[i] instanceof NDArray x) {
                    x.close();
                } else if (p[i] != whole[i] && p[i] instanceof NDList l) {
                    l.close();
                }
            }
        }
    }
}
