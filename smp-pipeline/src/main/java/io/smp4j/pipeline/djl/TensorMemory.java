package io.smp4j.pipeline.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.util.NativeResource;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;

/**
 * The memory behind a PyTorch-engine array, for copies DJL has no API for (device to device, between processes): a
 * direct {@link ByteBuffer} whose address is the tensor's data pointer and whose capacity is its size in bytes. On a GPU
 * that address is device memory: Java must never read or write the buffer, only hand its address to CUDA. Reached
 * through DJL 0.35.1's PyTorch JNI ({@code PyTorchLibrary.torchDirectByteBuffer}) by reflection, since library
 * modules compile against DJL's API only; {@link #available()} is false on other engines. Part of {@link DjlInternals}'
 * contract: checked by {@code TensorMemoryTest} on every DJL upgrade.
 */
public final class TensorMemory {
    private static final Object LIB;
    private static final Method DIRECT;
    private static final Method CONTIGUOUS;
    private static final Method ZERO_GRAD;
    private static final Method IS_GRAD_MODE;
    private static final Method SET_GRAD_MODE;
    private static final Method CUDNN_BENCHMARK;
    private static final String WHY_NOT;

    static {
        Object lib = null;
        Method direct = null;
        Method contiguous = null;
        Method zeroGrad = null;
        Method isGradMode = null;
        Method setGradMode = null;
        Method cudnnBenchmark = null;
        String why = null;
        try {
            Class<?> c = Class.forName("ai.djl.pytorch.jni.PyTorchLibrary");
            Field f = c.getDeclaredField("LIB");
            f.setAccessible(true);
            lib = f.get(null);
            direct = c.getDeclaredMethod("torchDirectByteBuffer", long.class);
            contiguous = c.getDeclaredMethod("torchIsContiguous", long.class);
            zeroGrad = c.getDeclaredMethod("zeroGrad", long.class);
            direct.setAccessible(true);
            contiguous.setAccessible(true);
            zeroGrad.setAccessible(true);
            isGradMode = c.getDeclaredMethod("torchIsGradMode");
            setGradMode = c.getDeclaredMethod("torchSetGradMode", boolean.class);
            isGradMode.setAccessible(true);
            setGradMode.setAccessible(true);
            cudnnBenchmark = c.getDeclaredMethod("torchSetBenchmarkCuDNN", boolean.class);
            cudnnBenchmark.setAccessible(true);
        } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
            why = "DJL's PyTorch engine (0.35.1) is not on the class path or has changed: " + e;
            lib = null;
        }
        LIB = lib;
        DIRECT = direct;
        CONTIGUOUS = contiguous;
        ZERO_GRAD = zeroGrad;
        IS_GRAD_MODE = isGradMode;
        SET_GRAD_MODE = setGradMode;
        CUDNN_BENCHMARK = cudnnBenchmark;
        WHY_NOT = why;
    }

    private TensorMemory() {
    }

    /** Whether tensor memory can be reached here (DJL's PyTorch engine of the expected version). */
    public static boolean available() {
        return LIB != null;
    }

    /** Why {@link #available()} is false; null when it is true. */
    public static String unavailableReason() {
        return WHY_NOT;
    }

    private static long handle(NDArray a) {
        if (!(a instanceof NativeResource<?> r) || !(r.getHandle() instanceof Long h)) {
            throw new IllegalArgumentException("not a PyTorch-engine array: " + a.getClass().getName());
        }
        return h;
    }

    /** Whether {@code a}'s elements lie in C order without gaps (a raw copy of its bytes is then its values). */
    public static boolean isContiguous(NDArray a) {
        check();
        try {
            return (Boolean) CONTIGUOUS.invoke(LIB, handle(a));
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("torchIsContiguous failed", e);
        }
    }

    /**
     * The memory of a contiguous array (see the class comment: on a GPU, an address for CUDA only). Valid while the
     * array is open and not resized.
     */
    public static ByteBuffer of(NDArray a) {
        check();
        if (!isContiguous(a)) {
            throw new IllegalArgumentException("array " + a.getShape() + " is not contiguous: use contiguous(a)");
        }
        try {
            return (ByteBuffer) DIRECT.invoke(LIB, handle(a));
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("torchDirectByteBuffer failed for " + a.getShape(), e);
        }
    }

    /**
     * {@code a} when it is contiguous, else a contiguous copy of it in {@code a}'s manager (close it after use): a
     * flatten of a non-contiguous array copies in C order, and the reshape back is a view of that copy.
     */
    public static NDArray contiguous(NDArray a) {
        if (isContiguous(a)) {
            return a;
        }
        try (NDArray flat = a.flatten()) {
            return flat.reshape(a.getShape());
        }
    }

    /**
     * Zeroes the gradient of {@code w} (a PyTorch-engine array that has one) in one native call, without making a Java
     * handle for it: what DJL's own optimizers do after an update ({@code JniUtils.zeroGrad}).
     */
    static void zeroGradient(NDArray w) {
        check();
        try {
            ZERO_GRAD.invoke(LIB, handle(w));
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("zeroGrad failed for " + w.getShape(), e);
        }
    }

    /**
     * Sets PyTorch's grad mode on this thread (whether operations record a graph for backward) and returns the mode
     * it replaces. DJL's gradient collector turns it on for its whole lifetime and has no API to pause it.
     */
    static boolean setGradMode(boolean on) {
        check();
        try {
            boolean before = (Boolean) IS_GRAD_MODE.invoke(LIB);
            SET_GRAD_MODE.invoke(LIB, on);
            return before;
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("torchSetGradMode failed", e);
        }
    }

    /**
     * Turns cuDNN's benchmark mode on or off for the process (PyTorch's {@code torch.backends.cudnn.benchmark}: for
     * each new convolution shape, time the algorithms once and keep the fastest). DJL sets it only when its engine
     * starts, from {@code ai.djl.pytorch.cudnn_benchmark}; this sets it at any time.
     */
    public static void setCudnnBenchmark(boolean on) {
        check();
        ai.djl.engine.Engine.getEngine("PyTorch"); // loads the native library, if nothing did yet
        try {
            CUDNN_BENCHMARK.invoke(LIB, on);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("torchSetBenchmarkCuDNN failed", e);
        }
    }

    private static void check() {
        if (LIB == null) {
            throw new IllegalStateException(WHY_NOT);
        }
    }
}
