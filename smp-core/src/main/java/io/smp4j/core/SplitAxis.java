package io.smp4j.core;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/** The axis along which a {@link Step} argument is cut into microbatches (default 0; SageMaker's input_split_axes). */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.PARAMETER)
public @interface SplitAxis {
    int value();
}
