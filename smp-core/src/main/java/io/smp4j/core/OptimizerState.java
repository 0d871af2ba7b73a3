package io.smp4j.core;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.optimizer.Optimizer;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The state of a DJL {@link Optimizer} for a stage's parameters (momentum, Adam's means and variances, update counts),
 * written and read by {@link Checkpoints}.
 *
 * <p>DJL's optimizers have no public API for their state, so this reads it from their fields: every field of type
 * {@code Map<String, Map<Device, NDArray>>} (per-parameter state, keyed by parameter id, as all of DJL's optimizers
 * keep it) plus {@code Optimizer}'s update counts. Parameter ids are random per process, so the file is keyed by the
 * parameter's position and name in the stage. State an optimizer keeps in other kinds of fields (none of DJL's
 * optimizers do) is not saved.
 */
final class OptimizerState {
    private static final int MAGIC = 0x534d504f; // "SMPO"

    private OptimizerState() {
    }

    static void write(Optimizer optimizer, List<Parameter> params, DataOutputStream out) throws IOException {
        List<Field> states = stateFields(optimizer.getClass());
        Map<String, Integer> counts = counts(optimizer);
        out.writeInt(MAGIC);
        out.writeUTF(optimizer.getClass().getName());
        out.writeInt(readInt(optimizer, "numUpdate"));
        out.writeInt(params.size());
        for (Parameter p : params) {
            out.writeUTF(p.getName());
            Integer c = counts.get(p.getId());
            out.writeInt(c == null ? -1 : c);
        }
        out.writeInt(states.size());
        for (Field f : states) {
            Map<String, Map<Device, NDArray>> map = stateMap(optimizer, f);
            out.writeUTF(f.getName());
            for (Parameter p : params) {
                Map<Device, NDArray> perDevice = map == null ? null : map.get(p.getId());
                NDArray a = perDevice == null || perDevice.isEmpty() ? null : perDevice.values().iterator().next();
                if (a == null) {
                    out.writeInt(-1);
                    continue;
                }
                long[] shape = a.getShape().getShape();
                out.writeInt(shape.length);
                for (long d : shape) {
                    out.writeLong(d);
                }
                float[] v = a.toFloatArray();
                ByteBuffer b = ByteBuffer.allocate(4 * v.length);
                b.asFloatBuffer().put(v);
                out.write(b.array());
            }
        }
    }

    /** What {@link #read} found, applied later by {@link #apply} (so that every rank can check before any applies). */
    record Loaded(int numUpdate, int[] counts, List<String> fields, List<List<float[]>> values,
                  List<List<long[]>> shapes) {
    }

    static Loaded read(Optimizer optimizer, List<Parameter> params, DataInputStream in) throws IOException {
        if (in.readInt() != MAGIC) {
            throw new IOException("not an smp4j optimizer state file");
        }
        String cls = in.readUTF();
        if (!cls.equals(optimizer.getClass().getName())) {
            throw new IOException("it holds the state of a " + cls + ", this job's optimizer is a "
                    + optimizer.getClass().getName());
        }
        int numUpdate = in.readInt();
        int n = in.readInt();
        if (n != params.size()) {
            throw new IOException("it holds state for " + n + " parameters, the stage has " + params.size());
        }
        int[] counts = new int[n];
        for (int i = 0; i < n; i++) {
            String name = in.readUTF();
            if (!name.equals(params.get(i).getName())) {
                throw new IOException("optimizer state of parameter " + name + " where " + params.get(i).getName()
                        + " was expected");
            }
            counts[i] = in.readInt();
        }
        int fields = in.readInt();
        List<String> names = new ArrayList<>();
        List<List<float[]>> values = new ArrayList<>();
        List<List<long[]>> shapes = new ArrayList<>();
        for (int f = 0; f < fields; f++) {
            names.add(in.readUTF());
            List<float[]> v = new ArrayList<>();
            List<long[]> s = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int dims = in.readInt();
                if (dims < 0) {
                    v.add(null);
                    s.add(null);
                    continue;
                }
                long[] shape = new long[dims];
                for (int d = 0; d < dims; d++) {
                    shape[d] = in.readLong();
                }
                if (!Arrays.equals(shape, params.get(i).getArray().getShape().getShape())) {
                    throw new IOException("optimizer state " + names.get(f) + " of " + params.get(i).getName()
                            + " has shape " + Arrays.toString(shape) + ", the parameter "
                            + params.get(i).getArray().getShape());
                }
                byte[] bytes = new byte[Math.toIntExact(4 * new Shape(shape).size())];
                in.readFully(bytes);
                float[] vals = new float[bytes.length / 4];
                ByteBuffer.wrap(bytes).asFloatBuffer().get(vals);
                v.add(vals);
                s.add(shape);
            }
            values.add(v);
            shapes.add(s);
        }
        List<String> mine = stateFields(optimizer.getClass()).stream().map(Field::getName).toList();
        if (!mine.equals(names)) {
            throw new IOException("it holds optimizer state " + names + ", this optimizer keeps " + mine);
        }
        return new Loaded(numUpdate, counts, names, values, shapes);
    }

    static void apply(Optimizer optimizer, List<Parameter> params, Loaded loaded, NDManager manager) {
        Map<String, Integer> counts = counts(optimizer);
        counts.clear();
        for (int i = 0; i < params.size(); i++) {
            if (loaded.counts[i] >= 0) {
                counts.put(params.get(i).getId(), loaded.counts[i]);
            }
        }
        writeInt(optimizer, "numUpdate", loaded.numUpdate);
        List<Field> fields = stateFields(optimizer.getClass());
        for (int f = 0; f < fields.size(); f++) {
            Map<String, Map<Device, NDArray>> map = stateMap(optimizer, fields.get(f));
            if (map == null) {
                throw new IllegalStateException("optimizer field " + fields.get(f).getName() + " is null");
            }
            for (Map<Device, NDArray> old : map.values()) {
                old.values().forEach(NDArray::close);
            }
            map.clear();
            for (int i = 0; i < params.size(); i++) {
                float[] v = loaded.values.get(f).get(i);
                if (v == null) {
                    continue;
                }
                NDArray w = params.get(i).getArray();
                NDArray a = manager.create(v, new Shape(loaded.shapes.get(f).get(i)));
                Map<Device, NDArray> perDevice = new ConcurrentHashMap<>();
                perDevice.put(w.getDevice(), a);
                map.put(params.get(i).getId(), perDevice);
            }
        }
    }

    /** The per-parameter state maps of {@code cls}, in a fixed order. */
    static List<Field> stateFields(Class<?> cls) {
        List<Field> out = new ArrayList<>();
        for (Class<?> c = cls; c != null && c != Object.class; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (isStateMap(f.getGenericType())) {
                    f.setAccessible(true);
                    out.add(f);
                }
            }
        }
        out.sort(Comparator.comparing(f -> f.getDeclaringClass().getName() + "." + f.getName()));
        return out;
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
            return (Map<String, Map<Device, NDArray>>) f.get(o);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot read optimizer state " + f, e);
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Integer> counts(Optimizer o) {
        try {
            return (Map<String, Integer>) field("updateCounts").get(o);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot read the optimizer's update counts", e);
        }
    }

    private static int readInt(Optimizer o, String name) {
        try {
            return field(name).getInt(o);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot read Optimizer." + name, e);
        }
    }

    private static void writeInt(Optimizer o, String name, int value) {
        try {
            field(name).setInt(o, value);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot write Optimizer." + name, e);
        }
    }

    private static Field field(String name) {
        try {
            Field f = Optimizer.class.getDeclaredField(name);
            f.setAccessible(true);
            return f;
        } catch (NoSuchFieldException e) {
            throw new IllegalStateException("this DJL version's Optimizer has no field " + name
                    + "; optimizer state cannot be checkpointed", e);
        }
    }
}
