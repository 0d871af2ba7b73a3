package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * What a {@link Step} returned, one value per microbatch, identical on every rank of the pipeline group (the values
 * are computed on the last stage and sent to the others). As SageMaker's {@code StepOutput}: {@link #reduceMean()},
 * {@link #reduceSum()}, {@link #concat()}, {@link #stack()}, and the raw {@link #outputs()}. A step that returned
 * several values (an {@code NDList} or {@code NDArray[]}) has one output per value: {@link #value(int)}.
 *
 * <p>The arrays live in one manager shared by all values of the step: closing any of them closes all (the model
 * closes the previous step's output at the next step).
 */
public final class StepOutput implements AutoCloseable {
    private final NDManager manager;
    /** perMicrobatch.get(mb).get(k): value k of microbatch mb. */
    private final List<NDList> perMicrobatch;
    private final int value;

    /**
     * @param manager       owns every array of {@code perMicrobatch}
     * @param perMicrobatch per microbatch, the values the step returned (the same count for every microbatch)
     */
    public StepOutput(NDManager manager, List<NDList> perMicrobatch) {
        this(manager, List.copyOf(perMicrobatch), 0);
        for (NDList l : perMicrobatch) {
            if (l.size() != perMicrobatch.get(0).size()) {
                throw new IllegalArgumentException("microbatches returned different numbers of values: "
                        + perMicrobatch.get(0).size() + " and " + l.size());
            }
        }
    }

    private StepOutput(NDManager manager, List<NDList> perMicrobatch, int value) {
        this.manager = manager;
        this.perMicrobatch = perMicrobatch;
        this.value = value;
    }

    /**
     * The output of the {@code k}-th value a step returned (as SageMaker returns one {@code StepOutput} per returned
     * tensor); {@code value(0)} is the first.
     */
    public StepOutput value(int k) {
        if (k < 0 || k >= valueCount()) {
            throw new IndexOutOfBoundsException("the step returned " + valueCount() + " value(s); asked for value "
                    + k);
        }
        return new StepOutput(manager, perMicrobatch, k);
    }

    /** How many values the step returned per microbatch. */
    public int valueCount() {
        return perMicrobatch.isEmpty() ? 0 : perMicrobatch.get(0).size();
    }

    /** This value, one array per microbatch, in microbatch order (empty for a step that returned nothing). */
    public List<NDArray> outputs() {
        if (valueCount() == 0) {
            return List.of();
        }
        List<NDArray> out = new ArrayList<>(perMicrobatch.size());
        for (NDList l : perMicrobatch) {
            out.add(l.get(value));
        }
        return Collections.unmodifiableList(out);
    }

    /** The mean of the microbatch values (element-wise). */
    public NDArray reduceMean() {
        return stack().mean(new int[] {0});
    }

    /** The sum of the microbatch values (element-wise). */
    public NDArray reduceSum() {
        return stack().sum(new int[] {0});
    }

    /** The values joined along the batch dimension (scalars count as one-element vectors). */
    public NDArray concat() {
        NDList list = new NDList();
        for (NDArray p : outputs()) {
            list.add(p.getShape().dimension() == 0 ? p.reshape(1) : p);
        }
        return NDArrays.concat(list);
    }

    /** The values stacked along a new leading dimension. */
    public NDArray stack() {
        return NDArrays.stack(new NDList(outputs()));
    }

    @Override
    public void close() {
        manager.close();
    }
}
