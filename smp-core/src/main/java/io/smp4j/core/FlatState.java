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
    /** Per optimizer-state field: the flat state, and the views installed as each parameter's entry. */
    private final Map<String, NDArray> flatState = new HashMap<>();
    private final Map<String, List<NDArray>> stateViews = new HashMap<>();

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
            List<NDArray> mine = stateViews.get(field.getKey());
            Map<Device, NDArray> flatEntry = map.get(id);
            boolean clean = mine != null && flatEntry != null && flatEntry.get(device) == flatState.get(field.getKey());
            boolean any = false;
            for (int i = 0; i < params.size(); i++) {
                NDArray a = stateOf(map, params.get(i));
                any |= a != null;
                clean &= mine != null && a == mine.get(i);
            }
            if (clean || (!any && flatEntry == null)) {
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
                Map<Device, NDArray> old = map.remove(p.getId());
                if (old != null) {
                    old.values().forEach(NDArray::close);
                }
            }
            Map<Device, NDArray> oldFlat = map.remove(id);
            if (oldFlat != null) {
                oldFlat.values().forEach(NDArray::close);
            }
            Map<Device, NDArray> entry = new ConcurrentHashMap<>();
            entry.put(device, flat);
            map.put(id, entry);
            stateViews.remove(field.getKey());
            flatState.put(field.getKey(), flat);
            installViews(optimizer);
        }
    }

    /** Each parameter's entry in the optimizer's state maps becomes a view of its slot of the flat state. */
    void installViews(Optimizer optimizer) {
        for (Map.Entry<String, Map<String, Map<Device, NDArray>>> field
                : DjlInternals.optimizerState(optimizer).entrySet()) {
            Map<Device, NDArray> flatEntry = field.getValue().get(id);
            if (flatEntry == null || stateViews.containsKey(field.getKey())
                    && flatEntry.get(device) == flatState.get(field.getKey())) {
                continue;
            }
            NDArray flat = flatEntry.get(device);
            flatState.put(field.getKey(), flat);
            List<NDArray> v = DjlInternals.views(flat, offsets, shapes);
            for (int i = 0; i < params.size(); i++) {
                Map<Device, NDArray> entry = new ConcurrentHashMap<>();
                entry.put(device, v.get(i));
                Map<Device, NDArray> old = field.getValue().put(params.get(i).getId(), entry);
                if (old != null) {
                    old.values().stream().filter(a -> !v.contains(a)).forEach(NDArray::close);
                }
            }
            stateViews.put(field.getKey(), v);
        }
    }

    private NDArray stateOf(Map<String, Map<Device, NDArray>> map, Parameter p) {
        Map<Device, NDArray> e = map.get(p.getId());
        return e == null || e.isEmpty() ? null : e.values().iterator().next();
    }
}
