package io.smp4j.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import org.junit.jupiter.api.Test;

class StepSignatureTest {
    @SuppressWarnings("unused")
    public static final class Steps {
        @Step
        public NDArray good(DistributedModel model, NDList x, @NotSplit NDList y, @SplitAxis(1) NDArray z, int k) {
            return null;
        }

        public NDArray notAnnotated(DistributedModel model, NDList x) {
            return null;
        }

        @Step
        public NDArray noModel(NDList x, NDList y) {
            return null;
        }

        @Step
        public String badReturn(DistributedModel model, NDList x) {
            return "";
        }
    }

    private static String error(String name, Object... args) {
        return assertThrows(IllegalArgumentException.class, () -> StepSignature.of(Steps.class, name, args))
                .getMessage();
    }

    @Test
    void unusableStepSignaturesAreRejectedBeforeAnyWork() {
        DistributedModel model = new DistributedModel(null, null, null);
        NDList x = new NDList();
        assertEquals("no public method 'train' in io.smp4j.core.StepSignatureTest$Steps: a step must be a public "
                + "method annotated @Step; its steps: badReturn, good, noModel", error("train", model, x));
        assertEquals("no public method 'godo' in io.smp4j.core.StepSignatureTest$Steps: did you mean 'good'? a "
                + "step must be a public method annotated @Step; its steps: badReturn, good, noModel",
                error("godo", model, x));
        assertEquals("method Steps.notAnnotated is not annotated @Step", error("notAnnotated", model, x));
        assertEquals("step noModel must take exactly one DistributedModel parameter, found 0", error("noModel", x, x));
        assertEquals("step badReturn returns String; a step returns void, an NDArray, a number, or several values as an "
                + "NDList or NDArray[]", error("badReturn", model, x));
        assertEquals("step good: argument 1 is a String but the parameter is NDList",
                error("good", model, "x", x, null, 1));
        assertEquals("step good takes 5 arguments, 2 given", error("good", model, x));
    }

    /** A step's method is checked once, then remembered: each later call still checks its arguments. */
    @Test
    void aRememberedSignatureStillChecksItsArguments() {
        DistributedModel model = new DistributedModel(null, null, null);
        Object[] good = {model, new NDList(), new NDList(), null, 3};
        assertSame(StepSignature.of(Steps.class, "good", good), StepSignature.of(Steps.class, "good", good));
        assertEquals("step good: argument 2 is a Integer but the parameter is NDList",
                error("good", model, new NDList(), 7, null, 1));
        assertEquals("step good: argument 4 is a String but the parameter is int",
                error("good", model, new NDList(), new NDList(), null, "3"));
    }

    @Test
    void splitAxesFollowTheAnnotations() {
        DistributedModel model = new DistributedModel(null, null, null);
        StepSignature s = StepSignature.of(Steps.class, "good", new Object[] {model, new NDList(), new NDList(), null, 3});
        assertEquals(0, s.model());
        // the model and the int are passed whole; x split along 0; y whole (@NotSplit); z along 1 (@SplitAxis)
        assertArrayEquals(new int[] {StepSignature.WHOLE, 0, StepSignature.WHOLE, 1, StepSignature.WHOLE}, s.axes());
    }
}
