package io.smp4j.pipeline.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;

/** Small operations on lists of arrays that DJL's {@link NDList} lacks. */
public final class NDLists {
    private NDLists() {
    }

    /** A copy of every array of {@code list} on {@code scope}'s device, owned by {@code scope}. */
    public static NDList copy(NDList list, NDManager scope) {
        NDList out = new NDList(list.size());
        for (NDArray a : list) {
            NDArray c = a.getDevice().equals(scope.getDevice()) ? a.duplicate() : a.toDevice(scope.getDevice(), true);
            c.attach(scope);
            out.add(c);
        }
        return out;
    }

    /** Zeros of these types and shapes in {@code scope}. */
    public static NDList zeros(NDManager scope, ai.djl.ndarray.types.DataDesc... descs) {
        NDList out = new NDList(descs.length);
        for (ai.djl.ndarray.types.DataDesc d : descs) {
            out.add(scope.zeros(d.getShape(), d.getDataType()));
        }
        return out;
    }
}
