package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.smp4j.pipeline.djl.DjlInternals;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * How a stage's arrays cross between their device and the host memory the communicator sends from: the host path of
 * {@link StageLink} (ranks without a {@link DeviceLink} between them, such as GPUs of different hosts). The default
 * goes through DJL; on a GPU, smp4j's CUDA staging copies through reused page-locked buffers at the bus's speed.
 */
public interface HostStaging {
    /** Copies {@code a}'s bytes (C order, native byte order) into {@code dst} from {@code offset}. */
    void toHost(NDArray a, byte[] dst, int offset);

    /** An array of {@code shape} and {@code type} on {@code manager}'s device with the bytes of {@code src} from {@code offset}. */
    NDArray toDevice(NDManager manager, byte[] src, int offset, Shape shape, DataType type);

    /** Copies a float32 array's values into {@code dst} from {@code at} (as many as it holds). */
    default void toHost(NDArray a, float[] dst, int at) {
        DjlInternals.readFloats(a, dst, at);
    }

    /** Writes {@code src} from {@code at} into a float32 array in place (as many values as it holds). */
    default void toDevice(float[] src, int at, NDArray target) {
        DjlInternals.writeFloats(target, src, at);
    }

    /** Through DJL: any engine and device (a GPU array's copies go through pageable memory). */
    HostStaging DJL = new HostStaging() {
        @Override
        public void toHost(NDArray a, byte[] dst, int offset) {
            int bytes = Math.toIntExact(a.size() * a.getDataType().getNumOfBytes());
            DjlInternals.copyToHost(a, ByteBuffer.wrap(dst, offset, bytes));
        }

        @Override
        public NDArray toDevice(NDManager manager, byte[] src, int offset, Shape shape, DataType type) {
            int bytes = Math.toIntExact(shape.size() * type.getNumOfBytes());
            ByteBuffer direct = ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder());
            direct.put(src, offset, bytes).flip();
            return DjlInternals.fromHost(manager, direct, shape, type);
        }
    };
}
