package io.smp4j.core;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** PyTorch's CUDA out-of-memory error is recognised through its causes and told with rank, stage and bytes. */
class DeviceMemoryExceptionTest {
    @Test
    void recognisedAndToldPlainly() {
        RuntimeException torch = new RuntimeException("CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a "
                + "total capacity of 79.19 GiB of which 3.02 GiB is free.");
        IllegalStateException wrapped = new IllegalStateException("stage 1 of 2 cannot run", torch);
        assertTrue(DeviceMemoryException.isOutOfMemory(wrapped));
        assertFalse(DeviceMemoryException.isOutOfMemory(new RuntimeException("shape mismatch")));
        DeviceMemoryException e = DeviceMemoryException.of(wrapped, 3, 1, 2, "gpu(0) (NVIDIA H100)");
        assertTrue(e.getMessage().startsWith("rank 3 (stage 1 of 2) ran out of GPU memory on gpu(0) (NVIDIA H100): "
                + "PyTorch asked for 20.00 GiB, the GPU has "), e.getMessage());
        assertTrue(e.getMessage().endsWith("; use more partitions, more (smaller) microbatches, "
                + "activation_checkpointing, fewer active_microbatches or fp16"), e.getMessage());
        assertSame(wrapped, e.getCause());
    }
}
