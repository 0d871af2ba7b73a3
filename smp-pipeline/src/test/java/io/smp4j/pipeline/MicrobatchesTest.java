package io.smp4j.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class MicrobatchesTest {
    @Test
    void equalPartsAndTheirOffsets() {
        assertEquals(8, Microbatches.size(64, 8));
        assertEquals(40, Microbatches.start(64, 8, 5));
        assertEquals(64, Microbatches.size(64, 1));
    }

    @Test
    void anUnevenBatchNamesBothNumbers() {
        assertEquals("batch size 30 is not divisible by microbatches 4: every microbatch must have the same size; "
                        + "use a batch size that is a multiple of 4 (e.g. drop the last incomplete batch)",
                assertThrows(IllegalArgumentException.class, () -> Microbatches.size(30, 4)).getMessage());
        assertEquals("microbatches must be >= 1, got 0",
                assertThrows(IllegalArgumentException.class, () -> Microbatches.size(8, 0)).getMessage());
        assertEquals("microbatch 8 is not in 0..7",
                assertThrows(IllegalArgumentException.class, () -> Microbatches.start(64, 8, 8)).getMessage());
    }
}
