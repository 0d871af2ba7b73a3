package io.smp4j.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import org.junit.jupiter.api.Test;

class StepApiTest {
    @SuppressWarnings("unused")
    public static final class Steps {
        @Step
        public NDArray good(DistributedModel model, NDList x, @NotSplit NDList y) {
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
        return assertThrows(IllegalArgumentException.class, () -> StepRunner.find(Steps.class, name, args))
                .getMessage();
    }

    @Test
    void unusableStepSignaturesAreRejectedBeforeAnyWork() {
        DistributedModel model = new DistributedModel(null, null, null);
        NDList x = new NDList();
        StepRunner.find(Steps.class, "good", new Object[] {model, x, x});
        assertEquals("no public method 'train' in io.smp4j.core.StepApiTest$Steps: a step must be a public method "
                + "annotated @Step", error("train", model, x));
        assertEquals("method Steps.notAnnotated is not annotated @Step", error("notAnnotated", model, x));
        assertEquals("step noModel must take exactly one DistributedModel parameter, found 0", error("noModel", x, x));
        assertEquals("step badReturn returns String; a step returns void, an NDArray, a number, or several values as an NDList or NDArray[]",
                error("badReturn", model, x));
        assertEquals("step good: argument 1 is a String but the parameter is NDList", error("good", model, "x", x));
        assertEquals("step good takes 3 arguments, 2 given", error("good", model, x));
    }

    @Test
    void stepOutputReductions() {
        try (NDManager m = NDManager.newBaseManager()) {
            StepOutput out = new StepOutput(m.newSubManager(),
                    List.of(new float[] {1, 2}, new float[] {3, 4}, new float[] {5, 9}),
                    List.of(new Shape(2), new Shape(2), new Shape(2)));
            assertArrayEquals(new float[] {3, 5}, out.reduceMean().toFloatArray());
            assertArrayEquals(new float[] {9, 15}, out.reduceSum().toFloatArray());
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 9}, out.concat().toFloatArray());
            assertEquals(new Shape(3, 2), out.stack().getShape());
            assertEquals(3, out.outputs().size());
            out.close();
            StepOutput scalars = new StepOutput(m.newSubManager(), List.of(new float[] {2}, new float[] {4}),
                    List.of(new Shape(), new Shape()));
            assertEquals(3f, scalars.reduceMean().getFloat());
            assertArrayEquals(new float[] {2, 4}, scalars.concat().toFloatArray());
            scalars.close();
        }
    }
}
