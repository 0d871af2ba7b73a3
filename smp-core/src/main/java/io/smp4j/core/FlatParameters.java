package io.smp4j.core;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.optimizer.Optimizer;
import io.smp4j.pipeline.djl.DjlInternals;
import io.smp4j.pipeline.djl.TensorMemory;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/**
 * A stage's trainable parameters in one flat buffer, so that a step's CPU work does not grow with the parameter count
 * (on a GPU the CPU must stay ahead of the kernels; DJL updates, and zeroes, one parameter at a time).
 *
 * <p>Longer than 300 lines on purpose: one buffer's whole life, whose slot layout (offsets, gaps, views, update groups)
 * every part shares: making it, its gradients (fp32, or half precision's copies), the update and the views it renews,
 * handing it back; the optimizer state's side lives in {@link FlatState}.
 *
 * <ul>
 *   <li><b>Weights</b>: each parameter's array is replaced by a view of its slot in one flat array (the values are
 *       copied once). Blocks compute with the views, autograd gives each its own gradient as before.</li>
 *   <li><b>Gradients</b>: {@link #gradients} concatenates them into one flat array (one kernel), which the data-parallel
 *       average and the update work on. After each update every parameter gets a fresh view without a gradient, so
 *       that backward hands it its gradient rather than adding into a zeroed one (no fill, no addition per
 *       parameter).</li>
 *   <li><b>Update</b>: {@code optimizer.update} of the flat weights with the flat gradient, one call per group of
 *       consecutive slots of at most {@link #group} elements (a larger parameter alone): DJL's own optimizer,
 *       elementwise, so SGD (momentum, weight decay, clipping, rescaling), Adam and AdamW keep their semantics and
 *       learning-rate trackers; a handful of kernels per group in place of several per parameter. Plain SGD (no
 *       weight decay, rescaling or clipping) runs DJL's native arithmetic here, in place on the update's own
 *       gradient, without the native update's copy of it and its pass adding {@code 0 * weight} ({@link
 *       #sgdInPlace}). Groups bound what an update allocates besides the model (DJL's Adam makes several
 *       temporaries the size of what it updates; one update of a 400 M-parameter buffer tripled a rank's peak
 *       memory), and without data parallelism each group's gradient is concatenated on its own, so no flat copy of
 *       all gradients exists.</li>
 *   <li><b>Optimizer state</b> (momentum, Adam's moments) is flat per group, and each parameter's entry in the optimizer's
 *       own maps is a view of its slot: checkpoints ({@link OptimizerState}) keep their format. State put there from
 *       elsewhere (a checkpoint loaded, a unit moved here) is adopted into the flat state before the next update.</li>
 * </ul>
 *
 * <p>Slots start at multiples of {@link #ALIGN} elements (256 bytes of float32), the gaps zero: vectorised CPU kernels
 * then treat every element alike wherever its stage's buffer starts, so a pipelined step stays bitwise equal to one
 * process; GPU kernels get aligned loads. Only for exactly DJL's {@code Sgd}, {@code Adam} and {@code AdamW} (whose
 * PyTorch updates are elementwise), float32 parameters on one device, on the PyTorch engine; see {@link #whyNot}.
 */
final class FlatParameters implements AutoCloseable {
    /** Slot alignment, in elements. */
    static final int ALIGN = 64;
    /**
     * Elements of an update group on {@code device}. A GPU: 32 M (128 MB of float32), so that each group's kernels
     * are few and large and ResNet18's 11.7 M parameters stay one group (with groups of 4 M, an H100 run queued
     * ResNet18's launch-bound 64 px step 0.8 ms later than one update did). A CPU: 4 M (16 MB), so that temporaries
     * stay below the size the C library maps and unmaps afresh each time.
     */
    static long group(Device device) {
        return device.isGpu() ? 32L << 20 : 4L << 20;
    }

    private final NDManager manager;
    private final List<Parameter> params;
    /** The parameters' arrays: views of their slots, renewed after every update ({@link #update}). */
    private final List<NDArray> views;
    private final List<Shape> shapes;
    private final long[] offsets;
    private final long total;
    private final NDArray weights;
    /** Zero arrays for the gaps between gradients (null where a slot has none), concatenated between them. */
    private final List<NDArray> gaps;
    /** The same gaps in other types (half precision's gradients), made once each. */
    private final Map<DataType, List<NDArray>> typedGaps = new java.util.EnumMap<>(DataType.class);
    /** Each parameter's slot. */
    private final Map<Parameter, Integer> slots = new IdentityHashMap<>();
    private final String id = "smp4j-flat-" + UUID.randomUUID();
    private final Device device;
    /** Consecutive slots updated together: parameters [first, end), elements [from, to) of the flat buffer. */
    private record Group(String id, int first, int end, long from, long to, NDArray weights, FlatState state) {
    }

    private final List<Group> groups = new ArrayList<>();

    private FlatParameters(NDManager manager, List<Parameter> params, Optimizer optimizer, long group) {
        this.manager = manager;
        this.params = List.copyOf(params);
        this.shapes = new ArrayList<>();
        this.offsets = new long[params.size()];
        this.gaps = new ArrayList<>();
        long at = 0;
        for (int i = 0; i < params.size(); i++) {
            slots.put(params.get(i), i);
            Shape s = params.get(i).getArray().getShape();
            shapes.add(s);
            offsets[i] = at;
            long end = at + s.size();
            at = (end + ALIGN - 1) / ALIGN * ALIGN;
        }
        total = Math.max(at, ALIGN);
        device = params.get(0).getArray().getDevice();
        // The flat buffer, each parameter's values copied into its slot, and its array replaced by a view of it (the
        // old one closed at once: the copy never holds two of the model).
        try (DjlInternals.GradMode off = DjlInternals.withoutGradients()) {
            weights = manager.zeros(new Shape(total), DataType.FLOAT32, device);
            views = new ArrayList<>(DjlInternals.views(weights, offsets, shapes));
        }
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            NDArray old = p.getArray();
            NDArray v = views.get(i);
            try (DjlInternals.GradMode off = DjlInternals.withoutGradients()) {
                v.set(new ai.djl.ndarray.index.NDIndex("..."), old);
            }
            long gap = (i + 1 < params.size() ? offsets[i + 1] : total) - offsets[i] - old.size();
            gaps.add(gap == 0 ? null : manager.zeros(new Shape(gap), DataType.FLOAT32, device));
            v.attach(manager);
            v.setRequiresGradient(true);
            DjlInternals.replaceArray(p, v);
            old.close();
        }
        DjlInternals.defineGradients(views); // so that every view has a gradient of its own before any backward
        for (int first = 0; first < params.size(); ) {
            int end = first + 1;
            while (end < params.size() && offsets[end] + shapes.get(end).size() - offsets[first] <= group) {
                end++;
            }
            long from = offsets[first];
            long to = end < params.size() ? offsets[end] : total;
            long[] rel = new long[end - first];
            for (int i = first; i < end; i++) {
                rel[i - first] = offsets[i] - from;
            }
            String gid = id + "#" + groups.size();
            NDArray w;
            try (DjlInternals.GradMode off = DjlInternals.withoutGradients()) {
                w = weights.get(new ai.djl.ndarray.index.NDIndex("{}:{}", from, to));
            }
            w.attach(manager);
            FlatState st = new FlatState(manager, this.params.subList(first, end), rel, shapes.subList(first, end),
                    to - from, device, gid);
            st.adopt(optimizer); // the parameters' optimizer state, into flat state
            groups.add(new Group(gid, first, end, from, to, w, st));
            first = end;
        }
    }

    /** Why {@code params} cannot be flat with {@code optimizer} (null: they can). */
    static String whyNot(Optimizer optimizer, List<Parameter> params) {
        if (!DjlInternals.updateZeroesGradients(optimizer)) {
            return "the optimizer is a " + optimizer.getClass().getName() + " (flat updates: DJL's Sgd, Adam, AdamW on "
                    + "the PyTorch engine)";
        }
        if (params.isEmpty()) {
            return "the stage has no trainable parameters";
        }
        Device d = params.get(0).getArray().getDevice();
        Set<Parameter> seen = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        for (Parameter p : params) {
            NDArray a = p.getArray();
            if (a.getDataType() != DataType.FLOAT32 || !a.getDevice().equals(d) || !seen.add(p)
                    || !TensorMemory.isContiguous(a)) {
                return "parameter " + p.getName() + " is " + a.getDataType() + " on " + a.getDevice()
                        + " (flat: float32, contiguous, all on one device)";
            }
        }
        return null;
    }

    /**
     * The stage's {@code params} made flat, their arrays replaced by views (the old ones closed), and the state
     * {@code optimizer} holds for them made flat too. Between steps only: their gradients start at zero.
     */
    static FlatParameters of(List<Parameter> params, NDManager parent, Optimizer optimizer) {
        return of(params, parent, optimizer, group(params.get(0).getArray().getDevice()));
    }

    /** With update groups of at most {@code group} elements (tests: several groups on a small model). */
    static FlatParameters of(List<Parameter> params, NDManager parent, Optimizer optimizer, long group) {
        return new FlatParameters(parent.newSubManager(), params, optimizer, group);
    }

    /** Whether these are exactly {@code params}, each with the view installed here (nothing replaced them since). */
    boolean covers(List<Parameter> list) {
        if (list.size() != params.size()) {
            return false;
        }
        for (int i = 0; i < params.size(); i++) {
            if (list.get(i) != params.get(i) || params.get(i).getArray() != views.get(i)) {
                return false;
            }
        }
        return true;
    }

    /** Elements of the flat buffer (the parameters' and the gaps between their slots). */
    long size() {
        return total;
    }

    /** The flat weights: the parameters' arrays are views of it. */
    NDArray weights() {
        return weights;
    }

    /**
     * This step's gradients in one flat array of {@link #size()} elements, attached to {@code scope}: one
     * concatenation of the parameters' gradients (and the zero gaps).
     */
    NDArray gradients(NDManager scope) {
        return gradientsOf(views, scope);
    }

    /**
     * The gradients of {@code arrays} (one per slot, in slot order, all of one type: the parameters' views, or {@link
     * #castViews}) in one flat array of that type, zero in the gaps, attached to {@code scope}: one concatenation.
     */
    NDArray gradientsOf(List<NDArray> arrays, NDManager scope) {
        return gradientsOf(arrays, 0, params.size(), scope);
    }

    /** {@link #gradientsOf} for slots [first, end) only: their part of the flat buffer. */
    private NDArray gradientsOf(List<NDArray> arrays, int first, int end, NDManager scope) {
        List<NDArray> gapsOfType = gaps(arrays.get(0).getDataType());
        NDList parts = new NDList();
        List<NDArray> handles = new ArrayList<>();
        try {
            for (int i = first; i < end; i++) {
                NDArray g = DjlInternals.gradient(arrays.get(i));
                handles.add(g);
                NDArray flat = g.reshape(g.size());
                handles.add(flat);
                parts.add(flat);
                if (gapsOfType.get(i) != null) {
                    parts.add(gapsOfType.get(i));
                }
            }
            NDArray out = NDArrays.concat(parts);
            out.attach(scope);
            return out;
        } finally {
            handles.forEach(NDArray::close);
        }
    }

    private List<NDArray> gaps(DataType type) {
        if (type == DataType.FLOAT32) {
            return gaps;
        }
        return typedGaps.computeIfAbsent(type, t -> {
            List<NDArray> out = new ArrayList<>();
            for (NDArray g : gaps) {
                NDArray c = g == null ? null : g.toType(t, true);
                if (c != null) {
                    c.attach(manager);
                }
                out.add(c);
            }
            return out;
        });
    }

    /** {@code p}'s slot where its array is the view installed here (nothing replaced it since), else -1. */
    int slotOf(Parameter p) {
        Integer i = slots.get(p);
        return i != null && p.getArray() == views.get(i) ? i : -1;
    }

    /**
     * One copy of the flat weights in {@code type} (one cast, however many parameters), as a view per slot in slot
     * order, each a leaf that requires gradients, attached to {@code scope}: half precision's copies of the fp32
     * masters for a step.
     */
    List<NDArray> castViews(DataType type, NDManager scope) {
        List<NDArray> out;
        try (DjlInternals.GradMode off = DjlInternals.withoutGradients(); NDArray copy = weights.toType(type, true)) {
            out = DjlInternals.views(copy, offsets, shapes); // the views keep the copy's memory
        }
        for (NDArray v : out) {
            v.attach(scope);
            v.setRequiresGradient(true);
        }
        return out;
    }

    /**
     * Whether the parameters' update counts agree (Adam's bias correction counts per parameter, and the flat update
     * counts once for all): else update them one by one.
     */
    boolean countsAgree(Optimizer optimizer) {
        Map<String, Integer> counts = DjlInternals.updateCounts(optimizer);
        Integer count = counts.get(params.get(0).getId());
        for (Parameter p : params) {
            if (!java.util.Objects.equals(counts.get(p.getId()), count)) {
                return false;
            }
        }
        return true;
    }

    /**
     * One update of every parameter ({@link #countsAgree} first): {@code optimizer.update} on each group's part of the
     * flat weights with its part of {@code gradients} (the whole flat gradient, say the data-parallel average), or,
     * where that is null, with its own parameters' gradients concatenated; then every parameter gets a new view without
     * a gradient (the executor need not zero gradients, and its parameter store must be renewed).
     */
    void update(Optimizer optimizer, NDArray gradients) {
        Map<String, Integer> counts = DjlInternals.updateCounts(optimizer);
        Integer count = counts.get(params.get(0).getId());
        Integer after = null;
        for (Group g : groups) {
            if (count == null) {
                counts.remove(g.id());
            } else {
                counts.put(g.id(), count);
            }
            g.state().adopt(optimizer);
            try (NDManager scope = manager.newSubManager();
                 DjlInternals.GradMode off = DjlInternals.withoutGradients()) {
                NDArray grad = gradients == null ? gradientsOf(views, g.first(), g.end(), scope)
                        : gradients.get(new ai.djl.ndarray.index.NDIndex("{}:{}", g.from(), g.to()));
                grad.attach(scope);
                DjlInternals.SgdStep sgd = DjlInternals.sgdStep(optimizer, g.id(), g.weights());
                if (sgd == null) {
                    optimizer.update(g.id(), g.weights(), grad);
                } else {
                    sgdInPlace(sgd, g.weights(), grad);
                }
            }
            after = counts.get(g.id());
            g.state().installViews(optimizer);
        }
        for (Parameter p : params) {
            counts.put(p.getId(), after);
        }
        renewViews();
    }

    /**
     * DJL's native {@code sgdUpdate} for plain (momentum) SGD, the same arithmetic in the same order, but in place on
     * {@code grad}, which is this update's own (a concatenation, or a slice of the averaged flat gradient that nothing
     * reads after the update): DJL's clones the gradient and adds {@code 0 * weight} for a weight decay of 0, two more
     * passes over the memory than the four here ({@code g *= lr}; {@code s = s * momentum + g}; {@code w -= s}). The
     * learning rate and momentum are CPU scalars, which a GPU kernel takes as launch arguments (a scalar made on the
     * GPU would be a blocking host-to-device copy).
     */
    private void sgdInPlace(DjlInternals.SgdStep sgd, NDArray w, NDArray grad) {
        try (NDManager host = NDManager.newBaseManager(Device.cpu(), manager.getEngine().getEngineName())) {
            grad.muli(host.create(sgd.learningRate()));
            NDArray state = sgd.momentumState();
            if (state == null) {
                w.subi(grad);
            } else {
                state.muli(host.create(sgd.momentum())).addi(grad);
                w.subi(state);
            }
        }
    }

    /**
     * Gives every parameter a new view of its slot (the same memory, no kernel), closing the old one with its
     * gradient: a new array has no gradient yet, so the next backward hands each parameter the gradient it computes
     * instead of adding it into one zeroed here (PyTorch's {@code zero_grad(set_to_none=True)}). What that saves per
     * step on a GPU: a fill and an addition per parameter (measured with ncu on ResNet18: 62 fills and 65 additions,
     * about 0.5 ms of a 15 ms step). Parameter stores that cached the old arrays must be dropped by the caller.
     */
    private void renewViews() {
        List<NDArray> fresh;
        try (DjlInternals.GradMode off = DjlInternals.withoutGradients()) {
            fresh = DjlInternals.views(weights, offsets, shapes);
        }
        for (int i = 0; i < params.size(); i++) {
            NDArray v = fresh.get(i);
            v.attach(manager);
            v.setRequiresGradient(true);
            DjlInternals.replaceArray(params.get(i), v);
            views.get(i).close();
            views.set(i, v);
        }
    }

    /**
     * Forgets this object's entries in the optimizer (the parameters' own entries, views, keep their memory until the
     * object that replaces this one has copied them) and frees what only it holds: call after the parameters were given
     * new arrays, or when they are trained no more.
     */
    void release(Optimizer optimizer) {
        for (Group g : groups) {
            for (Map<String, Map<Device, NDArray>> map : DjlInternals.optimizerState(optimizer).values()) {
                Map<Device, NDArray> flat = map.remove(g.id());
                if (flat != null) {
                    flat.values().forEach(NDArray::close);
                }
            }
            DjlInternals.updateCounts(optimizer).remove(g.id());
        }
        close();
    }

    /** Closes the flat handles; views of them (parameters' arrays, optimizer state) keep the memory alive. */
    @Override
    public void close() {
        weights.close();
        groups.forEach(g -> g.weights().close());
        List<NDArray> all = new ArrayList<>(gaps);
        typedGaps.values().forEach(all::addAll);
        all.forEach(g -> {
            if (g != null) {
                g.close();
            }
        });
    }
}
