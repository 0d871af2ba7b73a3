package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * What a {@link Step} returned, one value per microbatch, identical on every rank of the pipeline group (the values
 * are computed on the last stage and sent to the others). As SageMaker's {@code StepOutput}: {@link #reduceMean()},
 * {@link #reduceSum()}, {@link #concat()}, {@link #stack()}, and the raw {@link #outputs()}.
 *
 * <p>The arrays live in this object's own manager: close it when done (the model closes the previous step's output
 * at the next step).
 */
public final class StepOutput implements AutoCloseable {
    private final NDManager manager;
    private final List<NDArray> outputs;
    /** Every returned value's output (this is the first); empty for a step that returned nothing. */
    private List<StepOutput> values = List.of();

    StepOutput(NDManager manager, List<float[]> values, List<Shape> shapes) {
        this.manager = manager;
        List<NDArray> out = new ArrayList<>();
        for (int i = 0; i < values.size(); i++) {
            out.add(manager.create(values.get(i), shapes.get(i)).duplicate());
        }
        this.outputs = Collections.unmodifiableList(out);
    }

    /** {@code values.get(k)}: the k-th returned value of every microbatch. */
    static StepOutput of(NDManager manager, List<List<float[]>> values, List<List<Shape>> shapes) {
        if (values.isEmpty()) {
            return new StepOutput(manager, List.of(), List.of());
        }
        List<StepOutput> all = new ArrayList<>();
        for (int k = 0; k < values.size(); k++) {
            all.add(new StepOutput(manager, values.get(k), shapes.get(k)));
        }
        StepOutput first = all.get(0);
        first.values = Collections.unmodifiableList(all);
        return first;
    }

    /**
     * The output of the {@code k}-th value a step returned as an {@link NDList} or {@code NDArray[]} (as SageMaker
     * returns one {@code StepOutput} per returned tensor); {@code value(0)} is this object.
     */
    public StepOutput value(int k) {
        if (k < 0 || k >= values.size()) {
            throw new IndexOutOfBoundsException("the step returned " + values.size() + " value(s); asked for value "
                    + k);
        }
        return values.get(k);
    }

    /** How many values the step returned per microbatch. */
    public int valueCount() {
        return values.size();
    }

    /** One value per microbatch, in microbatch order. */
    public List<NDArray> outputs() {
        return outputs;
    }

    /** The mean of the microbatch values (element-wise). */
    public NDArray reduceMean() {
        return stacked().mean(new int[] {0});
    }

    /** The sum of the microbatch values (element-wise). */
    public NDArray reduceSum() {
        return stacked().sum(new int[] {0});
    }

    /** The values joined along the batch dimension (e.g. per-sample predictions of the whole batch). */
    public NDArray concat() {
        return NDArrays.concat(outputs);
    }

    /** The values stacked along a new leading dimension. */
    public NDArray stack() {
        return stacked();
    }

    private NDArray stacked() {
        return ai.djl.ndarray.NDArrays.stack(new NDList(outputs));
    }

    @Override
    public void close() {
        manager.close();
    }

    /** Small helper so concat also works for scalars (treated as one-element vectors). */
    private static final class NDArrays {
        static NDArray concat(List<NDArray> parts) {
            NDList list = new NDList();
            for (NDArray p : parts) {
                list.add(p.getShape().dimension() == 0 ? p.reshape(1) : p);
            }
            return ai.djl.ndarray.NDArrays.concat(list);
        }
    }
}
