package io.smp4j.pipeline.wire;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import org.junit.jupiter.api.Test;

class TensorCodecTest {
    static NDList mixed(NDManager m) {
        return new NDList(m.create(new float[] {1.5f, -2, 3, 4, 5, 6}, new Shape(2, 3)),
                m.create(new long[] {7, 8, 9, Long.MIN_VALUE}),
                m.create(new int[] {1, 2}, new Shape(2, 1)),
                m.create(new float[] {0.25f, 1e-3f}).toType(DataType.FLOAT16, false),
                m.create(new boolean[] {true, false, true}),
                m.create(3.5f));
    }

    @Test
    void typesShapesAndBitsSurviveTheRoundTrip() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDList in = mixed(m);
            NDList out = TensorCodec.decode(m, TensorCodec.encode(in));
            assertEquals(in.size(), out.size());
            for (int i = 0; i < in.size(); i++) {
                NDArray a = in.get(i);
                NDArray b = out.get(i);
                assertEquals(a.getDataType(), b.getDataType(), "array " + i);
                assertEquals(a.getShape(), b.getShape(), "array " + i);
                assertArrayEquals(a.toByteArray(), b.toByteArray(), "array " + i);
            }
            assertEquals("[float32 (2, 3), int64 (4), int32 (2, 1), float16 (2), boolean (3), float32 ()]",
                    TensorCodec.Header.of(in).toString());
        }
    }

    @Test
    void aCorruptedPayloadIsRefused() {
        try (NDManager m = NDManager.newBaseManager()) {
            byte[] bytes = TensorCodec.encode(new NDList(m.create(new float[] {1, 2, 3})));
            bytes[bytes.length - 2] ^= 1;
            assertEquals("tensor list [float32 (3)] arrived corrupted (checksum mismatch)",
                    assertThrows(IllegalArgumentException.class, () -> TensorCodec.decode(m, bytes)).getMessage());
        }
    }

    /** The header written without allocation (the stage link) is byte for byte the streamed one. */
    @Test
    void headerForms() throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            TensorCodec.Header h = TensorCodec.Header.of(mixed(m)).withCrc(12345);
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            h.write(new DataOutputStream(b));
            assertArrayEquals(b.toByteArray(), h.toBytes());
            assertEquals(h.size(), b.size());
            TensorCodec.Header back = TensorCodec.Header.fromBytes(b.toByteArray(), b.size());
            assertEquals(h, back);
        }
    }

    @Test
    void oneArrayToAStreamAndBack() throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray a = m.create(new long[] {3, 1, 4}, new Shape(3));
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            TensorCodec.write(new DataOutputStream(b), a);
            TensorCodec.Stored s = TensorCodec.read(new DataInputStream(new ByteArrayInputStream(b.toByteArray())));
            assertEquals(DataType.INT64, s.type());
            assertArrayEquals(new long[] {3, 1, 4}, s.toArray(m).toLongArray());
        }
    }
}
