package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import io.smp4j.pipeline.model.Parameters;
import io.smp4j.pipeline.schedule.Action;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The backward of a chunk's last microbatch in segments, so that the gradients of the model's later units are final
 * (and can be all-reduced) while the earlier units' backward still runs. A chunk (a {@link SequentialBlock} of units)
 * is cut, from its end, into segments of at least {@link GradientsReady#groupFloats()} parameter floats. The
 * microbatch's forward runs segment by segment, each on the previous one's output detached from its graph; backward
 * runs the last segment's graph, then each earlier one's on (output x the gradient its successor's input received):
 * the cut a pipeline makes between stages, inside a rank. The same operations on the same values as one backward
 * (every array crossing a cut gets its gradient exactly, as the stage boundaries' equality tests show), and the
 * parameters of each segment are handed to {@link GradientsReady#ready} as soon as its backward ran.
 */
final class SegmentedBackward implements StepPart {
    private final List<Block> chunks;
    private final GradientsReady hook;
    private final List<List<Segment>> segments = new ArrayList<>();
    /** Per chunk, the microbatch whose backward comes last in this step's actions. */
    private int[] lastMicrobatch = new int[0];

    private record Segment(int from, int to, List<Parameter> params) {
    }

    SegmentedBackward(List<Block> chunks, GradientsReady hook) {
        this.chunks = chunks;
        this.hook = hook;
        for (int c = 0; c < chunks.size(); c++) {
            segments.add(null);
        }
    }

    @Override
    public void beginStep(StepRun step) {
        if (step.training()) {
            begin(step.order());
        }
    }

    /** A chunk's last training forward of the step, recorded, runs in segments. */
    @Override
    public void prepare(StepRun step, StageCall call, Action a, InFlight f, boolean recordsGraph) {
        if (recordsGraph && step.training() && lastOf(a.chunk(), a.microbatch())) {
            call.runTrainingWith(in -> forward(a.chunk(), step.stage().store(), in, f));
        }
    }

    @Override
    public boolean backpropagate(StepRun step, Action a, InFlight f, NDArray target) {
        if (f.segments == null) {
            return false;
        }
        backward(step.gradients(), target, a.chunk(), f);
        return true;
    }

    @Override
    public void endStep(StepRun step, boolean completed) {
        if (!step.training()) {
            return;
        }
        if (completed) {
            hook.backwardDone();
        } else {
            hook.aborted();
        }
    }

    /** A training step begins: finds each chunk's last backward and tells the hook how much is coming. */
    void begin(List<Action> actions) {
        lastMicrobatch = new int[chunks.size()];
        Arrays.fill(lastMicrobatch, -1);
        for (Action a : actions) {
            if (a.type() == Action.Type.BACKWARD) {
                lastMicrobatch[a.chunk()] = a.microbatch();
            }
        }
        long floats = 0;
        for (int c = 0; c < chunks.size(); c++) {
            for (Segment s : segments(c)) {
                for (Parameter p : s.params) {
                    floats += p.getArray().size();
                }
            }
        }
        hook.stepStarted(floats);
    }

    /** Whether microbatch {@code mb}'s backward on chunk {@code c} is the chunk's last in this step. */
    boolean lastOf(int c, int mb) {
        return lastMicrobatch[c] == mb;
    }

    private List<Segment> segments(int c) {
        if (segments.get(c) == null) {
            segments.set(c, cut(chunks.get(c), hook.groupFloats()));
        }
        return segments.get(c);
    }

    private static List<Block> children(Block chunk) {
        return chunk instanceof SequentialBlock seq ? new ArrayList<>(seq.getChildren().values()) : List.of(chunk);
    }

    /**
     * Segments from the chunk's end: each closes once it holds {@code floats} trainable parameter floats (the first
     * one takes whatever is left, joined to the next when that is less).
     */
    private static List<Segment> cut(Block chunk, long floats) {
        List<Block> kids = children(chunk);
        List<Segment> out = new ArrayList<>();
        int to = kids.size();
        long held = 0;
        List<Parameter> params = new ArrayList<>();
        for (int i = kids.size() - 1; i >= 0; i--) {
            List<Parameter> mine = trainable(kids.get(i));
            params.addAll(0, mine);
            for (Parameter p : mine) {
                held += p.getArray().size();
            }
            if (i == 0 && held < floats && !out.isEmpty()) {
                // The chunk's first units hold too little for a bucket of their own: they join the next segment.
                Segment next = out.remove(0);
                params.addAll(next.params);
                out.add(0, new Segment(0, next.to, List.copyOf(params)));
            } else if (held >= floats || i == 0) {
                out.add(0, new Segment(i, to, List.copyOf(params)));
                to = i;
                held = 0;
                params = new ArrayList<>();
            }
        }
        return out;
    }

    private static List<Parameter> trainable(Block block) {
        List<Parameter> out = new ArrayList<>();
        for (Parameter p : Parameters.of(block)) {
            if (p.requiresGradient() && p.isInitialized() && p.getArray().hasGradient()) {
                out.add(p);
            }
        }
        return out;
    }

    /** Chunk {@code c}'s training forward on {@code input} in segments, recorded in {@code f}; returns its output. */
    NDList forward(int c, ParameterStore store, NDList input, InFlight f) {
        List<Block> kids = children(chunks.get(c));
        f.segments = new ArrayList<>();
        NDList x = input;
        NDList y = input;
        for (Segment s : segments(c)) {
            if (!f.segments.isEmpty()) {
                x = detached(y);
            }
            y = x;
            for (int i = s.from; i < s.to; i++) {
                y = kids.get(i).forward(store, y, true);
            }
            f.segments.add(new NDList[] {x, y});
        }
        return y;
    }

    private static NDList detached(NDList y) {
        NDList x = new NDList(y.size());
        for (NDArray a : y) {
            // Every floating-point array (DJL's PyTorch engine reports no gradient for computed arrays, so which of
            // them carry one cannot be asked): one that depends on nothing trainable gets a zero gradient back.
            if (a.getDataType().isFloating()) {
                NDArray d = a.stopGradient();
                d.setRequiresGradient(true);
                x.add(d);
            } else {
                x.add(a);
            }
        }
        return x;
    }

    /**
     * Backward of a segmented forward from {@code target} (the chunk's usual backward target, which reaches back to
     * its last segment's input), segment by segment, handing each segment's parameters to the hook.
     */
    void backward(GradientCollector gc, NDArray target, int c, InFlight f) {
        List<Segment> segs = segments(c);
        gc.backward(target);
        for (int s = segs.size() - 1; s > 0; s--) {
            hook.ready(segs.get(s).params);
            NDList in = f.segments.get(s)[0];
            NDList prevOut = f.segments.get(s - 1)[1];
            NDArray next = null;
            for (int i = 0; i < in.size(); i++) {
                NDArray y = prevOut.get(i);
                if (in.get(i) != y) { // a detached copy: its gradient goes on into the previous segment
                    NDArray term = y.mul(in.get(i).getGradient()).sum();
                    next = next == null ? term : next.add(term);
                }
            }
            if (next != null) {
                gc.backward(next);
            }
        }
        hook.ready(segs.get(0).params);
        f.segments = null;
    }
}
