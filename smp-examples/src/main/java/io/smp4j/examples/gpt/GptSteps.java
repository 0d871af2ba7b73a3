package io.smp4j.examples.gpt;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.loss.Loss;
import io.smp4j.core.DistributedModel;
import io.smp4j.core.Step;

/** The gpt example's step body: next-token cross-entropy over every position. */
public final class GptSteps {
    private final Loss loss = Loss.softmaxCrossEntropyLoss();

    @Step
    public NDArray trainStep(DistributedModel model, NDList tokens, NDList labels) {
        NDArray logits = model.forward(tokens).head();
        long v = logits.getShape().get(2);
        NDArray l = loss.evaluate(new NDList(labels.head().toType(DataType.INT64, false).reshape(-1)),
                new NDList(logits.toType(DataType.FLOAT32, false).reshape(-1, v)));
        model.backward(l);
        return l;
    }
}
