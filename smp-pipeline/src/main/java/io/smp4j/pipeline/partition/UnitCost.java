package io.smp4j.pipeline.partition;

/**
 * What one unit of the model (a child block, in order) costs, measured on one sample microbatch.
 *
 * @param name            the unit's block name, e.g. {@code 02ParallelBlock}
 * @param timeMillis      forward + backward time
 * @param parameters      number of trainable and non-trainable parameter elements
 * @param parameterBytes  bytes of its parameters
 * @param activationBytes bytes of its output for one microbatch (what a stage holds per microbatch in flight)
 */
public record UnitCost(String name, double timeMillis, long parameters, long parameterBytes, long activationBytes) {
    public UnitCost {
        if (timeMillis < 0 || parameters < 0 || parameterBytes < 0 || activationBytes < 0) {
            throw new IllegalArgumentException("unit '" + name + "' has a negative cost");
        }
    }

    /** Memory the unit needs on its stage. */
    public long memoryBytes() {
        return parameterBytes + activationBytes;
    }
}
