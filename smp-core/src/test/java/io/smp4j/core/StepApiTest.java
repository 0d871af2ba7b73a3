package io.smp4j.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import org.junit.jupiter.api.Test;

class StepApiTest {
    @Test
    void stepOutputReductions() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDManager owner = m.newSubManager();
            StepOutput out = new StepOutput(owner, List.of(
                    new NDList(owner.create(new float[] {1, 2}), owner.create(new long[] {7})),
                    new NDList(owner.create(new float[] {3, 4}), owner.create(new long[] {8})),
                    new NDList(owner.create(new float[] {5, 9}), owner.create(new long[] {9}))));
            assertArrayEquals(new float[] {3, 5}, out.reduceMean().toFloatArray());
            assertArrayEquals(new float[] {9, 15}, out.reduceSum().toFloatArray());
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 9}, out.concat().toFloatArray());
            assertEquals(new Shape(3, 2), out.stack().getShape());
            assertEquals(3, out.outputs().size());
            // The second value keeps its type.
            assertEquals(2, out.valueCount());
            assertEquals(DataType.INT64, out.value(1).outputs().get(0).getDataType());
            assertArrayEquals(new long[] {7, 8, 9}, out.value(1).concat().toLongArray());
            assertEquals("the step returned 2 value(s); asked for value 2",
                    assertThrows(IndexOutOfBoundsException.class, () -> out.value(2)).getMessage());
            out.close();
            NDManager owner2 = m.newSubManager();
            StepOutput scalars = new StepOutput(owner2, List.of(new NDList(owner2.create(2f)),
                    new NDList(owner2.create(4f))));
            assertEquals(3f, scalars.reduceMean().getFloat());
            assertArrayEquals(new float[] {2, 4}, scalars.concat().toFloatArray());
            scalars.close();
            StepOutput nothing = new StepOutput(m.newSubManager(), List.of(new NDList(), new NDList()));
            assertEquals(0, nothing.valueCount());
            assertEquals(List.of(), nothing.outputs());
        }
    }
}
