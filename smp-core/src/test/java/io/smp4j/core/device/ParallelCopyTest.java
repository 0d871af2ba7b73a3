package io.smp4j.core.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The host path's split copies cover every element once, in any number of parts, with offsets on both sides, as
 * CudaStaging uses them (slices of one direct buffer, copied beside each other); a failing part fails the copy.
 */
class ParallelCopyTest {
    @Test
    void everyPartitionCopiesEveryByteOnce() {
        Random r = new Random(3);
        for (int count : new int[] {1, 7, 4096, 1_000_003}) {
            byte[] src = new byte[count + 5];
            r.nextBytes(src);
            for (int parts = 1; parts <= 5; parts++) {
                ByteBuffer direct = ByteBuffer.allocateDirect(count);
                ParallelCopy.inParts(count, parts, (i, j) -> direct.slice(i, j - i).put(src, 5 + i, j - i));
                byte[] back = new byte[count + 3];
                ParallelCopy.inParts(count, parts, (i, j) -> direct.slice(i, j - i).get(back, 3 + i, j - i));
                byte[] want = java.util.Arrays.copyOfRange(src, 5, 5 + count);
                assertArrayEquals(want, java.util.Arrays.copyOfRange(back, 3, 3 + count), count + " in " + parts);
            }
        }
    }

    @Test
    void floatsKeepTheNativeOrderInEverySlice() {
        int count = 300_001;
        float[] src = new float[count + 2];
        for (int i = 0; i < src.length; i++) {
            src[i] = i * 0.5f - 7;
        }
        ByteBuffer direct = ByteBuffer.allocateDirect(4 * count).order(ByteOrder.nativeOrder());
        ParallelCopy.inParts(count, 3, (i, j) -> direct.slice(4 * i, 4 * (j - i)).order(ByteOrder.nativeOrder())
                .asFloatBuffer().put(src, 2 + i, j - i));
        assertEquals(src[2 + 123_456], direct.getFloat(4 * 123_456), "as the whole buffer reads it");
        float[] back = new float[count];
        ParallelCopy.bulk(count, 4, (i, j) -> direct.slice(4 * i, 4 * (j - i)).order(ByteOrder.nativeOrder())
                .asFloatBuffer().get(back, i, j - i));
        assertArrayEquals(java.util.Arrays.copyOfRange(src, 2, 2 + count), back);
    }

    @Test
    void aFailingPartFailsTheCopy() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ParallelCopy.inParts(100, 4,
                (i, j) -> {
                    if (i >= 50) {
                        throw new IndexOutOfBoundsException("part at " + i);
                    }
                }));
        assertTrue(e.getMessage().contains("part at"), e.getMessage());
    }
}
