package io.smp4j.pipeline.djl;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.optimizer.Adam;
import ai.djl.training.optimizer.AdamW;
import ai.djl.training.GradientCollector;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.optimizer.Sgd;
import ai.djl.util.NativeResource;
import java.lang.reflect.Field;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/*
 * Longer than 300 lines on purpose: every reach into DJL's internals (lifetimes, views, private optimizer state, what
 * its PyTorch JNI lacks) is kept in this one adapter, with one test each, so that a DJL upgrade is checked in one
 * place; splitting it would scatter exactly what the design gathers.
 */

/**
 * Everything smp4j does that depends on how DJL 0.35.1's PyTorch engine behaves inside, rather than on its API
 * contract: memory lifetimes, views versus copies, and optimizer state that DJL keeps in private fields. One place,
 * and one test per method ({@code DjlInternalsTest}), so that a DJL upgrade is checked here and nowhere else.
 */
public final class DjlInternals {
    private DjlInternals() {
    }

    /**
     * A scalar to multiply an autograd graph by, alive as long as {@code scope}. {@code NDArray.mul(Number)} builds its
     * scalar over a direct buffer that only a temporary Java object keeps alive, while autograd saves the scalar for
     * the backward: a garbage collection in between frees it (seen: NaN gradients under load). Created in the
     * microbatch's scope, the scalar lives until that scope closes, after the backward.
     */
    public static NDArray scalar(NDManager scope, float value) {
        return scope.create(value);
    }

    /**
     * {@code a} in the wider floating type {@code wider} (float16 to float32), on the autograd graph: DJL 0.35.1's
     * PyTorch {@code toType} copies outside autograd, so a loss computed after it has no path back. Multiplying by a
     * one-element array of ones of the wider type promotes exactly (x * 1 = x) and is differentiable. Not for
     * narrowing: promotion never narrows.
     */
    public static NDArray upcast(NDArray a, DataType wider) {
        if (a.getDataType() == wider) {
            return a;
        }
        return a.mul(a.getManager().ones(new Shape(1), wider));
    }

    /**
     * Gives each array of {@code params} (arrays that require gradients) a gradient of zeros that is its own: before
     * its first backward an array has none, and DJL's {@code getGradient} then hands out a new, detached array of
     * zeros, so that writing into it changes nothing. One backward of {@code 0 * sum(w)} over all of them, in a
     * gradient collector of its own (none may be open on any thread).
     */
    public static void defineGradients(List<NDArray> params) {
        if (params.isEmpty()) {
            return;
        }
        try (NDManager scratch = params.get(0).getManager().newSubManager();
             GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray total = null;
            for (NDArray w : params) {
                NDArray t = w.sum();
                t.attach(scratch);
                total = total == null ? t : total.add(t);
            }
            gc.backward(total.mul(scalar(scratch, 0f)));
        }
    }

    /**
     * Whether {@code type} can exist on DJL 0.35.1's PyTorch engine: its JNI maps float32, float64, float16, uint8,
     * int32, int8, int64, boolean and complex64 to PyTorch types; any other (bfloat16) aborts the process there.
     */
    public static boolean engineHas(DataType type) {
        return switch (type) {
            case FLOAT32, FLOAT64, FLOAT16, UINT8, INT32, INT8, INT64, BOOLEAN, COMPLEX64 -> true;
            default -> false;
        };
    }

    /**
     * A copy of {@code alias} in memory the engine owns, in the same manager; {@code alias} is closed. An array made
     * from Java memory ({@code manager.create(float[])}, or a view of one) is backed by a direct buffer that only its
     * Java object keeps alive; autograd and views keep native references the collector cannot see.
     */
    public static NDArray owned(NDArray alias) {
        NDArray copy = alias.duplicate();
        alias.close();
        return copy;
    }

    /**
     * An array of {@code shape} and {@code type} on {@code manager}'s device with the bytes at {@code host}'s position
     * (native byte order); the caller may reuse {@code host} at once. DJL makes a CPU array over a direct buffer
     * without copying (over a heap buffer it first copies into a direct buffer of its own, which only the Java object
     * keeps alive): either way the result is copied into engine memory. On a GPU the creation already copies to the
     * device. Pass a reused direct buffer on hot paths: no Java allocation then.
     */
    public static NDArray fromHost(NDManager manager, ByteBuffer host, Shape shape, DataType type) {
        ByteBuffer slice = host.slice(host.position(), Math.toIntExact(shape.size() * type.getNumOfBytes()))
                .order(ByteOrder.nativeOrder());
        NDArray alias = manager.create(slice, shape, type);
        return manager.getDevice().isGpu() ? alias : owned(alias);
    }

    /**
     * Copies {@code a}'s bytes (native order, C-contiguous) into {@code out} at its position and advances it. On the
     * CPU a contiguous array is read through a direct view of its memory; a non-contiguous one, or one on a GPU, is
     * first copied by DJL into a temporary array, which is attached to a scratch scope and freed here (DJL would attach
     * it to {@code a}'s own, long-lived manager).
     */
    public static void copyToHost(NDArray a, ByteBuffer out) {
        try (NDManager scratch = a.getManager().newSubManager()) {
            a.tempAttach(scratch); // back to its own manager when the scratch scope closes
            out.put(a.toByteBuffer(true));
        }
    }

    /**
     * A writable view of a contiguous float32 array's memory on the CPU, or null where DJL would have to copy (a
     * non-contiguous array, a GPU array): then write through {@link #overwrite}. Writing through the view changes the
     * array in place, outside autograd; the view is valid while the array is.
     */
    public static FloatBuffer writableView(NDArray a) {
        if (a.getDevice().isGpu() || a.getDataType() != DataType.FLOAT32) {
            return null;
        }
        try (NDManager scratch = a.getManager().newSubManager()) {
            a.tempAttach(scratch); // back to its own manager when the scratch scope closes
            int before = scratch.getManagedArrays().size(); // a itself
            FloatBuffer view = a.toByteBuffer(true).asFloatBuffer();
            // DJL attaches a contiguous copy, if it had to make one, to the array's manager: the scratch scope.
            return scratch.getManagedArrays().size() == before ? view : null;
        }
    }

    /** Copies a float32 array's values (C order) into {@code dst} from {@code at}, through a view where DJL has one. */
    public static void readFloats(NDArray a, float[] dst, int at) {
        int n = Math.toIntExact(a.size());
        FloatBuffer view = writableView(a);
        if (view != null) {
            view.get(dst, at, n);
            return;
        }
        ByteBuffer b = ByteBuffer.allocate(4 * n).order(ByteOrder.nativeOrder());
        copyToHost(a, b);
        b.flip();
        b.asFloatBuffer().get(dst, at, n);
    }

    /**
     * Writes {@code src[at, at + size)} into a float32 array in place: through a view of its memory where it is
     * contiguous on the CPU, else with in-place arithmetic, which respects any layout (a raw copy into a
     * non-contiguous array, such as a gradient autograd produced, would overrun it; seen: a native crash).
     */
    public static void writeFloats(NDArray a, float[] src, int at) {
        int n = Math.toIntExact(a.size());
        FloatBuffer view = writableView(a);
        if (view != null) {
            view.put(src, at, n);
            return;
        }
        try (NDManager scratch = a.getManager().newSubManager();
             NDArray host = scratch.create(FloatBuffer.wrap(src, at, n), a.getShape());
             NDArray values = host.toDevice(a.getDevice(), false)) {
            a.subi(a).addi(values);
        }
    }

    /**
     * The gradient of {@code w}, as a new handle on it: close it after use. {@code getGradient()} returns a fresh
     * Java handle each call, attached to the parameter's long-lived manager; unclosed, every step would leak one per
     * parameter.
     */
    public static NDArray gradient(NDArray w) {
        return w.getGradient();
    }

    /** Grad mode restored on close. */
    public interface GradMode extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Turns off graph recording on this thread until the result is closed (PyTorch's {@code no_grad}), inside a
     * gradient collector too: what a forward that will be recomputed for backward runs under (activation
     * checkpointing), so that it keeps nothing for backward. PyTorch engine only.
     */
    public static GradMode withoutGradients() {
        boolean before = TensorMemory.setGradMode(false);
        return () -> TensorMemory.setGradMode(before);
    }

    /**
     * Whether {@code optimizer.update(id, w, g)} leaves {@code w}'s gradient zero on this engine: DJL 0.35.1's PyTorch
     * {@code sgdUpdate} and {@code adamUpdate} (behind {@link Sgd}, {@link Adam} and {@link AdamW}, exactly those
     * classes: a subclass may update differently) end with {@code zeroGrad}. The next step then need not zero them
     * again (62 native calls and kernels per ResNet18 step: about 2 ms of an H100 step's CPU time).
     */
    public static boolean updateZeroesGradients(Optimizer optimizer) {
        Class<?> c = optimizer.getClass();
        return TensorMemory.available() && (c == Sgd.class || c == Adam.class || c == AdamW.class);
    }

    /**
     * Zeroes {@code w}'s gradient in place (it keeps its gradient). On the PyTorch engine one native call per array
     * (per-step overhead matters on a GPU, where the CPU must stay ahead of the kernels); elsewhere through a handle.
     */
    public static void zeroGradient(NDArray w) {
        if (TensorMemory.available() && w instanceof NativeResource<?>) {
            TensorMemory.zeroGradient(w);
            return;
        }
        try (NDArray g = gradient(w)) {
            g.subi(g);
        }
    }

    /**
     * Overwrites {@code target}'s values in place with {@code values} (native byte order, as many bytes as the array
     * holds). Replacing arrays (DJL's loadParameters does) would leave the arrays a ParameterStore holds stale and drop
     * the gradient request. The copy goes into the array's own memory (an indexed assignment over all of it, outside
     * autograd), so an array that is a view of a larger buffer ({@link #replaceArray}, flat parameters) stays one: DJL's
     * {@code set(Buffer)} would point it at new memory ({@code set_}). For parameters and optimizer state as initialised
     * (contiguous), not for arrays autograd produced.
     */
    public static void overwrite(NDArray target, ByteBuffer values) {
        long bytes = target.size() * target.getDataType().getNumOfBytes();
        if (values.remaining() != bytes) {
            throw new IllegalArgumentException(values.remaining() + " bytes for an array of shape "
                    + target.getShape() + " (" + target.getDataType() + ", " + bytes + " bytes)");
        }
        if (target.getShape().dimension() == 0 || !TensorMemory.available()) {
            ByteBuffer heap = ByteBuffer.allocate(values.remaining()).order(ByteOrder.nativeOrder());
            heap.put(values.duplicate()).flip();
            target.set(heap); // a scalar, or another engine: no view to keep
            return;
        }
        try (NDManager scratch = target.getManager().newSubManager(); GradMode off = withoutGradients()) {
            NDArray v = fromHost(scratch, values.duplicate(), target.getShape(), target.getDataType());
            target.set(new NDIndex("..."), v);
        }
    }

    /**
     * Makes {@code array} the value of {@code parameter} in place of the one it has (DJL allows setting a parameter's
     * array only once, and closes nothing here: the caller closes the old one). For flat parameters: the array is a
     * view of a stage's flat buffer. Parameter stores that cached the old array must be dropped by the caller.
     */
    public static void replaceArray(Parameter parameter, NDArray array) {
        if (!array.getShape().equals(parameter.getArray().getShape())) {
            throw new IllegalArgumentException("parameter " + parameter.getName() + " has shape "
                    + parameter.getArray().getShape() + ", the new array " + array.getShape());
        }
        try {
            Field f = Parameter.class.getDeclaredField("array");
            f.setAccessible(true);
            f.set(parameter, array);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("this DJL version's Parameter has no field 'array' (see DjlInternals)", e);
        }
        array.setName(parameter.getName());
    }

    /**
     * Views of {@code flat} (one dimension): element {@code offsets[i]} on, in {@code shapes.get(i)}, sharing its
     * memory (a slice, then a reshape of the contiguous slice: PyTorch returns views for both).
     */
    public static List<NDArray> views(NDArray flat, long[] offsets, List<Shape> shapes) {
        List<NDArray> out = new ArrayList<>(shapes.size());
        for (int i = 0; i < shapes.size(); i++) {
            long n = shapes.get(i).size();
            try (NDArray slice = flat.get(new NDIndex("{}:{}", offsets[i], offsets[i] + n))) {
                NDArray v = slice.reshape(shapes.get(i));
                out.add(v);
            }
        }
        return out;
    }

    /** As {@link #overwrite(NDArray, ByteBuffer)}, from float32 values. */
    public static void overwrite(NDArray target, float[] values) {
        if (values.length != target.size()) {
            throw new IllegalArgumentException(values.length + " values for an array of shape " + target.getShape());
        }
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.nativeOrder());
        b.asFloatBuffer().put(values);
        overwrite(target, b);
    }

    /** Initialised SequentialBlocks' children, by block (weakly: a stage's blocks go when it is rebuilt). */
    private static final Map<ai.djl.nn.Block, ai.djl.nn.Block[]> SEQUENCES =
            java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    /**
     * {@code block.forward(store, input, training)}; for exactly a {@link ai.djl.nn.SequentialBlock} (no intermediate
     * outputs) whose parameters were all initialised when first seen here, its children's forwards in order, as its
     * {@code forwardInternal} runs them, without {@code AbstractBaseBlock.forward}'s check that the block is
     * initialised: that check walks every parameter below the block and builds its name, on every call (for a stage
     * of ResNet18, 62 names and a list per nested block before the microbatch's first kernel, while a GPU waits).
     * For a stage's block, which smp4j builds and never changes.
     */
    public static NDList forward(ai.djl.nn.Block block, ai.djl.training.ParameterStore store, NDList input,
                                 boolean training) {
        ai.djl.nn.Block[] children = SEQUENCES.get(block);
        if (children == null) {
            if (block.getClass() != ai.djl.nn.SequentialBlock.class
                    || ((ai.djl.nn.SequentialBlock) block).isReturnIntermediate() || !block.isInitialized()) {
                return block.forward(store, input, training);
            }
            children = block.getChildren().values().toArray(new ai.djl.nn.Block[0]);
            SEQUENCES.put(block, children);
        }
        NDList current = input;
        for (ai.djl.nn.Block child : children) {
            current = child.forward(store, current, training);
        }
        return current;
    }

    // ------------------------------------------------------------------------------------------ optimizer state

    /**
     * The per-parameter state of {@code optimizer} (momentum, Adam's moments, ...): every field of type
     * {@code Map<String, Map<Device, NDArray>>} (state keyed by parameter id, as all of DJL's optimizers keep it),
     * by field name in a fixed order. DJL's optimizers have no public API for their state; state kept in other kinds
     * of fields (none of DJL's optimizers do) is not seen.
     */
    public static Map<String, Map<String, Map<Device, NDArray>>> optimizerState(Optimizer optimizer) {
        List<Field> fields = new ArrayList<>();
        for (Class<?> c = optimizer.getClass(); c != null && c != Object.class; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (isStateMap(f.getGenericType())) {
                    fields.add(f);
                }
            }
        }
        fields.sort(Comparator.comparing(f -> f.getDeclaringClass().getName() + "." + f.getName()));
        Map<String, Map<String, Map<Device, NDArray>>> out = new LinkedHashMap<>();
        for (Field f : fields) {
            out.put(f.getName(), stateMap(optimizer, f));
        }
        return out;
    }

    /** Optimizer's per-parameter update counts (private {@code updateCounts}), live: changes apply. */
    @SuppressWarnings("unchecked")
    public static Map<String, Integer> updateCounts(Optimizer optimizer) {
        try {
            return (Map<String, Integer>) optimizerField("updateCounts").get(optimizer);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot read the optimizer's update counts", e);
        }
    }

    /** Optimizer's global update count (private {@code numUpdate}). */
    public static int numUpdate(Optimizer optimizer) {
        try {
            return optimizerField("numUpdate").getInt(optimizer);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot read Optimizer.numUpdate", e);
        }
    }

    public static void setNumUpdate(Optimizer optimizer, int value) {
        try {
            optimizerField("numUpdate").setInt(optimizer, value);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot write Optimizer.numUpdate", e);
        }
    }

    /**
     * What DJL's {@link Sgd#update} would use for one update of {@code id} (a weight like {@code weight}): counts the
     * update and asks the learning-rate tracker as {@code update} does (so trackers, update counts and checkpoints stay
     * DJL's), and takes or makes the momentum state as it does. Null, having counted nothing, where the update is not
     * plain (momentum) SGD: another class than exactly {@code Sgd}, weight decay, gradient rescaling or clipping, whose
     * arithmetic only DJL's native {@code sgdUpdate} reproduces bit for bit. What the caller then does in place must
     * be that native update's arithmetic: {@code g * lr}, then {@code s = s * momentum + g * lr} and {@code w -= s}
     * (or {@code w -= g * lr} without momentum).
     */
    public static SgdStep sgdStep(Optimizer optimizer, String id, NDArray weight) {
        if (optimizer.getClass() != Sgd.class) {
            return null;
        }
        try {
            if (SgdAccess.WEIGHT_DECAYS.getFloat(optimizer) != 0f || SgdAccess.RESCALE_GRAD.getFloat(optimizer) != 1f
                    || SgdAccess.CLIP_GRAD.getFloat(optimizer) >= 0f) {
                return null;
            }
            float momentum = SgdAccess.MOMENTUM.getFloat(optimizer);
            int count = (Integer) SgdAccess.UPDATE_COUNT.invoke(optimizer, id);
            float lr = ((ai.djl.training.tracker.ParameterTracker) SgdAccess.TRACKER.get(optimizer)).getNewValue(id,
                    count);
            NDArray state = null;
            if (momentum != 0f) {
                java.util.function.Function<String, NDArray> zeros = k -> weight.zerosLike();
                state = (NDArray) SgdAccess.WITH_DEFAULT_STATE.invoke(optimizer,
                        SgdAccess.MOMENTUM_STATES.get(optimizer), id, weight.getDevice(), zeros);
            }
            return new SgdStep(lr, momentum, state);
        } catch (IllegalAccessException | java.lang.reflect.InvocationTargetException e) {
            throw new IllegalStateException("cannot read DJL's Sgd settings (see DjlInternals)", e);
        }
    }

    /** {@link #sgdStep}'s answer: the learning rate of this update, the momentum, and the momentum state (or null). */
    public record SgdStep(float learningRate, float momentum, NDArray momentumState) {
    }

    /** What {@link #sgdStep} reads of DJL's Sgd, looked up once (it runs every update). */
    private static final class SgdAccess {
        static final Field WEIGHT_DECAYS = optimizerField("weightDecays");
        static final Field RESCALE_GRAD = optimizerField("rescaleGrad");
        static final Field CLIP_GRAD = optimizerField("clipGrad");
        static final Field MOMENTUM = declaredField(Sgd.class, "momentum");
        static final Field TRACKER = declaredField(Sgd.class, "learningRateTracker");
        static final Field MOMENTUM_STATES = declaredField(Sgd.class, "momentumStates");
        static final java.lang.reflect.Method UPDATE_COUNT = optimizerMethod("updateCount", String.class);
        static final java.lang.reflect.Method WITH_DEFAULT_STATE = optimizerMethod("withDefaultState", Map.class,
                String.class, Device.class, java.util.function.Function.class);

        private SgdAccess() {
        }
    }

    private static java.lang.reflect.Method optimizerMethod(String name, Class<?>... types) {
        try {
            java.lang.reflect.Method m = Optimizer.class.getDeclaredMethod(name, types);
            m.setAccessible(true);
            return m;
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException("this DJL version's Optimizer has no method " + name
                    + " (see DjlInternals)", e);
        }
    }

    private static boolean isStateMap(Type t) {
        if (!(t instanceof ParameterizedType p) || p.getRawType() != Map.class) {
            return false;
        }
        Type[] a = p.getActualTypeArguments();
        return a[0] == String.class && a[1] instanceof ParameterizedType inner && inner.getRawType() == Map.class
                && inner.getActualTypeArguments()[0] == Device.class
                && inner.getActualTypeArguments()[1] == NDArray.class;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Map<Device, NDArray>> stateMap(Optimizer o, Field f) {
        try {
            f.setAccessible(true);
            Map<String, Map<Device, NDArray>> m = (Map<String, Map<Device, NDArray>>) f.get(o);
            if (m == null) {
                throw new IllegalStateException("optimizer field " + f.getName() + " is null");
            }
            return m;
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot read optimizer state " + f, e);
        }
    }

    private static Field optimizerField(String name) {
        return declaredField(Optimizer.class, name);
    }

    /** {@code owner}'s own field {@code name}, made accessible. */
    private static Field declaredField(Class<?> owner, String name) {
        try {
            Field f = owner.getDeclaredField(name);
            f.setAccessible(true);
            return f;
        } catch (NoSuchFieldException e) {
            throw new IllegalStateException("this DJL version's " + owner.getSimpleName() + " has no field " + name
                    + "; optimizer state cannot be checkpointed nor updated flat (see DjlInternals)", e);
        }
    }
}
