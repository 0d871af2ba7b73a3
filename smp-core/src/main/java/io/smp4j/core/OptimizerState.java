package io.smp4j.core;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import ai.djl.training.optimizer.Optimizer;
import io.smp4j.pipeline.djl.DjlInternals;
import io.smp4j.pipeline.wire.TensorCodec;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The state of a DJL {@link Optimizer} for a stage's parameters (momentum, Adam's means and variances, update counts),
 * written and read by {@link Checkpoints}. DJL keeps it in private fields, reached through {@link DjlInternals}.
 * Parameter ids are random per process, so the file is keyed by the parameter's position and name in the stage.
 */
final class OptimizerState {
    private static final int MAGIC = 0x534d504f; // "SMPO"

    private OptimizerState() {
    }

    static void write(Optimizer optimizer, List<Parameter> params, DataOutputStream out) throws IOException {
        Map<String, Integer> counts = DjlInternals.updateCounts(optimizer);
        Map<String, Map<String, Map<Device, NDArray>>> state = DjlInternals.optimizerState(optimizer);
        out.writeInt(MAGIC);
        out.writeUTF(optimizer.getClass().getName());
        out.writeInt(DjlInternals.numUpdate(optimizer));
        out.writeInt(params.size());
        for (Parameter p : params) {
            out.writeUTF(p.getName());
            Integer c = counts.get(p.getId());
            out.writeInt(c == null ? -1 : c);
        }
        out.writeInt(state.size());
        for (Map.Entry<String, Map<String, Map<Device, NDArray>>> field : state.entrySet()) {
            out.writeUTF(field.getKey());
            for (Parameter p : params) {
                Map<Device, NDArray> perDevice = field.getValue().get(p.getId());
                NDArray a = perDevice == null || perDevice.isEmpty() ? null : perDevice.values().iterator().next();
                out.writeBoolean(a != null);
                if (a != null) {
                    TensorCodec.write(out, a);
                }
            }
        }
    }

    /**
     * What {@link #read} found, applied later by {@link #apply} (so that every rank can check before any applies).
     *
     * @param values values.get(field).get(parameter), null where the optimizer held no state
     */
    record Loaded(int numUpdate, int[] counts, List<String> fields, List<List<TensorCodec.Stored>> values) {
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
        int fieldCount = in.readInt();
        List<String> names = new ArrayList<>();
        List<List<TensorCodec.Stored>> values = new ArrayList<>();
        for (int f = 0; f < fieldCount; f++) {
            names.add(in.readUTF());
            List<TensorCodec.Stored> v = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                if (!in.readBoolean()) {
                    v.add(null);
                    continue;
                }
                TensorCodec.Stored s = TensorCodec.read(in);
                NDArray w = params.get(i).getArray();
                if (!s.shape().equals(w.getShape())) {
                    throw new IOException("optimizer state " + names.get(f) + " of " + params.get(i).getName()
                            + " has shape " + s.shape() + ", the parameter " + w.getShape());
                }
                v.add(s);
            }
            values.add(v);
        }
        List<String> mine = List.copyOf(DjlInternals.optimizerState(optimizer).keySet());
        if (!mine.equals(names)) {
            throw new IOException("it holds optimizer state " + names + ", this optimizer keeps " + mine);
        }
        return new Loaded(numUpdate, counts, names, values);
    }

    /** Replaces the optimizer's state for {@code params} by {@code loaded}, on each parameter's device. */
    static void apply(Optimizer optimizer, List<Parameter> params, Loaded loaded, NDManager manager) {
        DjlInternals.updateCounts(optimizer).clear();
        DjlInternals.setNumUpdate(optimizer, loaded.numUpdate());
        for (Map<String, Map<Device, NDArray>> map : DjlInternals.optimizerState(optimizer).values()) {
            for (Map<Device, NDArray> old : map.values()) {
                old.values().forEach(NDArray::close);
            }
            map.clear();
        }
        add(optimizer, params, loaded, manager);
    }

    /** Forgets (and frees) the optimizer's state for {@code params}: parameters this rank no longer trains. */
    static void remove(Optimizer optimizer, List<Parameter> params) {
        for (Parameter p : params) {
            DjlInternals.updateCounts(optimizer).remove(p.getId());
            for (Map<String, Map<Device, NDArray>> map : DjlInternals.optimizerState(optimizer).values()) {
                Map<Device, NDArray> old = map.remove(p.getId());
                if (old != null) {
                    old.values().forEach(NDArray::close);
                }
            }
        }
    }

    /**
     * Sets the optimizer's state for {@code params} (only theirs; other parameters' state and the update number stay)
     * to {@code loaded}, on each parameter's device: parameters that moved here from another stage.
     */
    static void add(Optimizer optimizer, List<Parameter> params, Loaded loaded, NDManager manager) {
        remove(optimizer, params);
        Map<String, Integer> counts = DjlInternals.updateCounts(optimizer);
        for (int i = 0; i < params.size(); i++) {
            if (loaded.counts()[i] >= 0) {
                counts.put(params.get(i).getId(), loaded.counts()[i]);
            }
        }
        Map<String, Map<String, Map<Device, NDArray>>> state = DjlInternals.optimizerState(optimizer);
        for (int f = 0; f < loaded.fields().size(); f++) {
            Map<String, Map<Device, NDArray>> map = state.get(loaded.fields().get(f));
            for (int i = 0; i < params.size(); i++) {
                TensorCodec.Stored v = loaded.values().get(f).get(i);
                if (v == null) {
                    continue;
                }
                NDArray w = params.get(i).getArray();
                NDArray a = v.toArray(manager);
                if (!a.getDevice().equals(w.getDevice())) {
                    NDArray moved = a.toDevice(w.getDevice(), true);
                    a.close();
                    a = moved;
                }
                Map<Device, NDArray> perDevice = new ConcurrentHashMap<>();
                perDevice.put(w.getDevice(), a);
                map.put(params.get(i).getId(), perDevice);
            }
        }
    }
}
