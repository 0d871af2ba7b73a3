package io.smp4j.core;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a training or evaluation step, as SageMaker's {@code @smp.step}: one forward (and backward) whose body runs
 * once per microbatch. Run it with {@link Smp#step(Object, String, Object...)}. Inside, call
 * {@link DistributedModel#forward} and, for training, {@link DistributedModel#backward}; on stages other than the
 * last the body ends at {@code forward} (only the last stage has outputs to score). Return NDArrays or numbers; they
 * come back as a {@link StepOutput}.
 *
 * <pre>{@code
 * @Step
 * public NDArray trainStep(DistributedModel model, NDList images, NDList labels) {
 *     NDList out = model.forward(images);
 *     NDArray loss = Loss.softmaxCrossEntropyLoss().evaluate(labels, out);
 *     model.backward(loss);
 *     return loss;
 * }
 * }</pre>
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface Step {
}
