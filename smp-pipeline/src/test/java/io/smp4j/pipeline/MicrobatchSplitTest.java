package io.smp4j.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import org.junit.jupiter.api.Test;

class MicrobatchSplitTest {
    @Test
    void everyArrayIsCutAlongItsAxisInOrder() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDList batch = new NDList(m.arange(24f).reshape(6, 4), m.arange(6f));
            List<NDList> parts = Microbatches.split(batch, 3, 0);
            assertEquals(3, parts.size());
            assertEquals(new Shape(2, 4), parts.get(1).get(0).getShape());
            assertArrayEquals(new float[] {8, 9, 10, 11, 12, 13, 14, 15}, parts.get(1).get(0).toFloatArray());
            assertArrayEquals(new float[] {4, 5}, parts.get(2).get(1).toFloatArray());
            List<NDList> cols = Microbatches.split(new NDList(m.arange(24f).reshape(6, 4)), 2, 1);
            assertArrayEquals(new float[] {2, 3, 6, 7}, cols.get(1).head().get("0:2").toFloatArray());
        }
    }

    @Test
    void anUnevenBatchOrAMissingAxisIsAnError() {
        try (NDManager m = NDManager.newBaseManager()) {
            assertEquals("batch size 6 is not divisible by microbatches 4: every microbatch must have the same size; "
                            + "use a batch size that is a multiple of 4 (e.g. drop the last incomplete batch)",
                    assertThrows(IllegalArgumentException.class,
                            () -> Microbatches.split(new NDList(m.zeros(new Shape(6, 2))), 4, 0)).getMessage());
            assertEquals("cannot split an array of shape (6, 2) along axis 2",
                    assertThrows(IllegalArgumentException.class,
                            () -> Microbatches.split(new NDList(m.zeros(new Shape(6, 2))), 2, 2)).getMessage());
        }
    }
}
