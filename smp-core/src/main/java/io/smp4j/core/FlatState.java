package io.smp4j.core;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.optimizer.Optimizer;
import io.smp4j.pipeline.djl.DjlInternals;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The optimizer state of {@link FlatParameters}: per state field (momentum, Adam's moments), one flat array in the
 * optimizer's map under the flat id, and each parameter's own entry a view of its slot (so checkpoints, which read the
 * parameters' entries, keep their format).
 */
final class FlatState {
    private final NDManager manager;
    private final List<Parameter> params;
    private final long[] offsets;
    private final List<Shape> shapes;
    private final long total;
    private final Device device;
    private final String id;
    /** What is installed for one state field: its flat array, and each parameter's entry, a view of it. */
    private record Installed(NDArray flat, List<NDArray> views) {
    }

    /** Per optimizer-state field, what this object installed. */
    private final Map<String, Installed> installed = new HashMap<>();

    FlatState(NDManager manager, List<Parameter> params, long[] offsets, List<Shape> shapes, long total, Device device,
              String id) {
        this.manager = manager;
        this.params = params;
        this.offsets = offsets;
        this.shapes = shapes;
        this.total = total;
        this.device = device;
        this.id = id;
    }

    /**
     * State the optimizer holds for the parameters that is not the views installed here (a checkpoint applied, units
     * moved, a first step that ran without flat parameters) becomes the flat state: copied into a new flat array,
     * parameters without state getting zeros (the state DJL's optimizers start from).
     */
    void adopt(Optimizer optimizer) {
        for (Map.Entry<String, Map<String, Map<Device, NDArray>>> field
                : DjlInternals.optimizerState(optimizer).entrySet()) {
            Map<String, Map<Device, NDArray>> map = field.getValue();
            boolean any = params.stream().anyMatch(p -> stateOf(map, p) != null);
            if (ours(field.getKey(), map) || (!any && map.get(id) == null)) {
                continue; // ours, or none yet (the optimizer makes it at its first update)
            }
            NDArray flat = manager.zeros(new Shape(total), DataType.FLOAT32, device);
            try (DjlInternals.GradMode off = DjlInternals.withoutGradients()) {
                for (int i = 0; i < params.size(); i++) {
                    NDArray a = stateOf(map, params.get(i));
                    if (a != null) {
                        try (NDArray src = a.reshape(a.size())) {
                            flat.set(new NDIndex("{}:{}", offsets[i], offsets[i] + a.size()), src);
                        }
                    }
                }
            }
            for (Parameter p : params) {
                close(map.remove(p.getId()));
            }
            close(map.remove(id));
            Map<Device, NDArray> entry = new ConcurrentHashMap<>();
            entry.put(device, flat);
            map.put(id, entry);
            install(field.getKey(), map, flat);
        }
    }

    /**
     * After an update: each parameter's entry in the optimizer's state maps becomes a view of its slot of the flat
     * state (where the optimizer made a new flat state, at its first update).
     */
    void installViews(Optimizer optimizer) {
        for (Map.Entry<String, Map<String, Map<Device, NDArray>>> field
                : DjlInternals.optimizerState(optimizer).entrySet()) {
            Map<Device, NDArray> flatEntry = field.getValue().get(id);
            Installed done = installed.get(field.getKey());
            if (flatEntry != null && (done == null || flatEntry.get(device) != done.flat())) {
                install(field.getKey(), field.getValue(), flatEntry.get(device));
            }
        }
    }

    /** Whether {@code field}'s flat entry and every parameter's entry are what this object installed. */
    private boolean ours(String field, Map<String, Map<Device, NDArray>> map) {
        Installed done = installed.get(field);
        Map<Device, NDArray> flatEntry = map.get(id);
        if (done == null || flatEntry == null || flatEntry.get(device) != done.flat()) {
            return false;
        }
        for (int i = 0; i < params.size(); i++) {
            if (stateOf(map, params.get(i)) != done.views().get(i)) {
                return false;
            }
        }
        return true;
    }

    /** Makes each parameter's entry of {@code field} a view of its slot of {@code flat}. */
    private void install(String field, Map<String, Map<Device, NDArray>> map, NDArray flat) {
        List<NDArray> v = DjlInternals.views(flat, offsets, shapes);
        for (int i = 0; i < params.size(); i++) {
            Map<Device, NDArray> entry = new ConcurrentHashMap<>();
            entry.put(device, v.get(i));
            close(map.put(params.get(i).getId(), entry));
        }
        installed.put(field, new Installed(flat, v));
    }

    private static void close(Map<Device, NDArray> entry) {
        if (entry != null) {
            entry.values().forEach(NDArray::close);
        }
    }

    private NDArray stateOf(Map<String, Map<Device, NDArray>> map, Parameter p) {
        Map<Device, NDArray> e = map.get(p.getId());
        return e == null || e.isEmpty() ? null : e.values().iterator().next();
    }
}
