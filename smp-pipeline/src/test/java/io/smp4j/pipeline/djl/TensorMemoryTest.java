package io.smp4j.pipeline.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import org.junit.jupiter.api.Test;

/** What the device paths rely on, checked on the CPU, where the memory can be read: DJL 0.35.1's tensor pointer. */
class TensorMemoryTest {
    @Test
    void theBufferIsTheTensorsOwnMemory() {
        assertTrue(TensorMemory.available(), TensorMemory.unavailableReason());
        assertNull(TensorMemory.unavailableReason());
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray a = m.arange(12f).reshape(3, 4);
            ByteBuffer mem = TensorMemory.of(a);
            assertEquals(48, mem.capacity());
            FloatBuffer f = mem.order(ByteOrder.nativeOrder()).asFloatBuffer();
            float[] seen = new float[12];
            f.get(seen);
            assertArrayEquals(a.toFloatArray(), seen);
            f.put(5, -1f); // a write through the buffer is a write into the tensor
            assertEquals(-1f, a.getFloat(1, 1));
        }
    }

    @Test
    void nonContiguousArraysAreRefusedOrCopiedInCOrder() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray a = m.arange(0, 12, 1, DataType.INT64).reshape(3, 4);
            assertTrue(TensorMemory.isContiguous(a));
            assertSame(a, TensorMemory.contiguous(a));
            NDArray t = a.transpose();
            assertFalse(TensorMemory.isContiguous(t));
            assertThrows(IllegalArgumentException.class, () -> TensorMemory.of(t));
            try (NDArray c = TensorMemory.contiguous(t)) {
                assertTrue(TensorMemory.isContiguous(c));
                assertEquals(new Shape(4, 3), c.getShape());
                long[] values = new long[12];
                TensorMemory.of(c).order(ByteOrder.nativeOrder()).asLongBuffer().get(values);
                assertArrayEquals(t.toLongArray(), values);
            }
        }
    }

    /** One native call zeroes a parameter's gradient in place: it stays attached, and a new backward is not summed. */
    @Test
    void zeroGradientZeroesInPlaceAndKeepsTheGradient() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray w = m.create(new float[] {1f, 2f, 3f});
            w.setRequiresGradient(true);
            for (int round = 0; round < 2; round++) {
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    gc.backward(w.mul(w).sum());
                }
                try (NDArray g = DjlInternals.gradient(w)) {
                    assertArrayEquals(new float[] {2f, 4f, 6f}, g.toFloatArray(), "round " + round);
                }
                DjlInternals.zeroGradient(w);
                assertTrue(w.hasGradient());
                try (NDArray g = DjlInternals.gradient(w)) {
                    assertArrayEquals(new float[] {0f, 0f, 0f}, g.toFloatArray());
                }
            }
        }
    }
}
