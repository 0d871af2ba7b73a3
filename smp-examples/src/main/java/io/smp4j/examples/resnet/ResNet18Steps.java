package io.smp4j.examples.resnet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.loss.Loss;
import io.smp4j.core.DistributedModel;
import io.smp4j.core.Smp;
import io.smp4j.core.Step;

/** The example's step bodies, run per microbatch by {@link Smp#step}: training and evaluation. */
public final class ResNet18Steps {
    private final Loss loss = Loss.softmaxCrossEntropyLoss();

    @Step
    public NDList trainStep(DistributedModel model, NDList images, NDList labels) {
        NDList out = model.forward(images);
        NDArray l = loss.evaluate(labels, out);
        model.backward(l);
        return new NDList(l, correct(out, labels));
    }

    @Step
    public NDArray evalStep(DistributedModel model, NDList images, NDList labels) {
        return correct(model.forward(images), labels);
    }

    private static NDArray correct(NDList logits, NDList labels) {
        return logits.head().argMax(1).toType(DataType.INT64, false)
                .eq(labels.head().toType(DataType.INT64, false)).sum().toType(DataType.FLOAT32, false);
    }
}
