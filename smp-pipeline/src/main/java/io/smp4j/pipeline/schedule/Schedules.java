package io.smp4j.pipeline.schedule;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Pipeline schedules as pure functions of (stages, microbatches), named by what they are:
 *
 * <ul>
 *   <li>{@link #gpipe GPipe} (fill-drain): every stage runs its forwards, then its backwards; with a cap on
 *       microbatches in flight, in waves of that many. Peak activations held per stage: M (or the cap).</li>
 *   <li>{@link #oneForwardOneBackward 1F1B}: stage s warms up with min(P-1-s, M) forwards, then alternates one
 *       forward and one backward, then drains the remaining backwards. Peak activations: at most P - s.</li>
 * </ul>
 * <ul>
 *   <li>{@link #virtual Interleaved 1F1B over virtual stages} (Megatron-LM's interleaved schedule, PyTorch's
 *       {@code ScheduleInterleaved1F1B}): each rank holds v non-adjacent chunks of the model (rank r's chunk c is global
 *       stage c x P + r); microbatches go through the chunks in groups of P, and the bubble falls to
 *       (P-1)/(v x M + P-1) of a step, for more messages and more activations held.</li>
 * </ul>
 * SageMaker's configuration words map onto them: {@code pipeline: simple} is GPipe, {@code pipeline: interleaved}
 * (SageMaker's name for interleaving forwards and backwards) is 1F1B. (Megatron and PyTorch use "interleaved" for
 * virtual stages, which is another thing.) Backwards run in microbatch order 0..M-1 in both, so gradients accumulate
 * in the order of an unsplit run.
 */
public final class Schedules {
    /** SageMaker's {@code pipeline} values. */
    public static final String SIMPLE = "simple";
    public static final String INTERLEAVED = "interleaved";
    /** Every schedule name, the one list the configuration, the executor and run-ahead check against. */
    public static final List<String> NAMES = List.of(INTERLEAVED, SIMPLE);

    /**
     * {@code pipeline} as a schedule name (trimmed, lower case); an error naming the allowed ones where it is none.
     */
    public static String name(String pipeline) {
        String p = pipeline == null ? "" : pipeline.trim().toLowerCase(Locale.ROOT);
        if (!NAMES.contains(p)) {
            throw new IllegalArgumentException("pipeline must be one of " + String.join(", ", NAMES) + "; got \""
                    + pipeline + "\"");
        }
        return p;
    }

    /**
     * Whether the schedule named {@code pipeline} may run a forward ahead of its turn while a backward's gradient is
     * late (SageMaker's interleaved pipeline does, within active_microbatches; simple keeps its order).
     */
    public static boolean runsAhead(String pipeline) {
        return INTERLEAVED.equals(name(pipeline));
    }

    private static final Map<String, Schedule> CHECKED = new ConcurrentHashMap<>();

    private Schedules() {
    }

    /** For SageMaker's {@code pipeline} value ({@code simple} or {@code interleaved}), without a cap. */
    public static Schedule of(String pipeline, int stages, int microbatches) {
        return of(pipeline, stages, microbatches, Integer.MAX_VALUE);
    }

    /**
     * For SageMaker's {@code pipeline} value, with at most {@code activeMicrobatches} microbatches in flight on any
     * stage (SageMaker's {@code active_microbatches}): GPipe runs in waves of that many microbatches; 1F1B shortens
     * its warm-up to activeMicrobatches - 1 when that is below its natural bound.
     */
    public static Schedule of(String pipeline, int stages, int microbatches, int activeMicrobatches) {
        return of(pipeline, stages, microbatches, activeMicrobatches, 1);
    }

    /**
     * As {@link #of(String, int, int, int)}, with {@code chunks} model chunks per rank (virtual stages): more than one
     * is the interleaved schedule of {@link #virtual} for {@code interleaved}, and fill-drain through the chunks for
     * {@code simple}.
     */
    public static Schedule of(String pipeline, int stages, int microbatches, int activeMicrobatches, int chunks) {
        if (activeMicrobatches < 1) {
            throw new IllegalArgumentException("active_microbatches must be >= 1, got " + activeMicrobatches);
        }
        return switch (name(pipeline)) {
            case SIMPLE -> chunks == 1 ? fillDrain("gpipe", stages, microbatches, activeMicrobatches, true)
                    : fillDrainChunks("gpipe-virtual", stages, microbatches, chunks, true);
            case INTERLEAVED -> chunks == 1 ? oneForwardOneBackward(stages, microbatches, activeMicrobatches)
                    : virtual(stages, microbatches, chunks);
            default -> throw new IllegalStateException("schedule " + pipeline + " has no generator");
        };
    }

    /**
     * Interleaved 1F1B over {@code chunks} virtual stages per rank (Megatron-LM's order). The rank's forward k runs
     * microbatch (k / (P v)) P + k mod P through chunk (k mod P v) / P; its backward k the same microbatch through chunk
     * v - 1 - (k mod P v) / P. Rank r warms up with 2 (P - r - 1) + (v - 1) P forwards, then alternates, then drains.
     * Within a chunk, microbatches go forward and backward in order 0..M-1 (so gradients accumulate as in one
     * process). Needs M to be a multiple of P, as Megatron's does.
     */
    public static Schedule virtual(int stages, int microbatches, int chunks) {
        check(stages, microbatches);
        if (chunks < 1) {
            throw new IllegalArgumentException("virtual_stages must be >= 1, got " + chunks);
        }
        if (microbatches % stages != 0) {
            throw new IllegalArgumentException("virtual_stages " + chunks + " needs microbatches to be a multiple of "
                    + "partitions (" + stages + "), got microbatches " + microbatches + "; use "
                    + (microbatches / stages + 1) * stages + " microbatches or virtual_stages 1");
        }
        int group = stages * chunks;
        int total = microbatches * chunks;
        List<List<Action>> all = new ArrayList<>();
        for (int r = 0; r < stages; r++) {
            List<Action> a = new ArrayList<>();
            int warmup = Math.min(2 * (stages - r - 1) + (chunks - 1) * stages, total);
            int f = 0;
            int b = 0;
            for (; f < warmup; f++) {
                a.add(new Action(Action.Type.FORWARD, (f / group) * stages + f % stages, (f % group) / stages));
            }
            while (f < total) {
                a.add(new Action(Action.Type.FORWARD, (f / group) * stages + f % stages, (f % group) / stages));
                f++;
                a.add(new Action(Action.Type.BACKWARD, (b / group) * stages + b % stages, chunks - 1 - (b % group) / stages));
                b++;
            }
            for (; b < total; b++) {
                a.add(new Action(Action.Type.BACKWARD, (b / group) * stages + b % stages, chunks - 1 - (b % group) / stages));
            }
            all.add(a);
        }
        return new Schedule("interleaved-virtual", stages, microbatches, withCommunication(all, stages, chunks),
                chunks);
    }

    /** Fill-drain through chunks: every chunk's forwards in chunk order, then the backwards in reverse chunk order. */
    private static Schedule fillDrainChunks(String name, int stages, int microbatches, int chunks,
                                            boolean backwards) {
        check(stages, microbatches);
        List<List<Action>> all = new ArrayList<>();
        for (int r = 0; r < stages; r++) {
            List<Action> a = new ArrayList<>();
            for (int c = 0; c < chunks; c++) {
                for (int m = 0; m < microbatches; m++) {
                    a.add(new Action(Action.Type.FORWARD, m, c));
                }
            }
            for (int c = chunks - 1; backwards && c >= 0; c--) {
                for (int m = 0; m < microbatches; m++) {
                    a.add(new Action(Action.Type.BACKWARD, m, c));
                }
            }
            all.add(a);
        }
        return new Schedule(name, stages, microbatches, withCommunication(all, stages, chunks), chunks);
    }

    /**
     * As {@link #of(String, int, int, int)}, checked by the {@link ScheduleSimulator} (every microbatch forwarded and
     * backwarded once per stage, in dependency order, no deadlock) the first time each shape is asked for, then
     * cached: what the runtime executes.
     */
    public static Schedule checked(String pipeline, int stages, int microbatches, int activeMicrobatches) {
        return checked(pipeline, stages, microbatches, activeMicrobatches, 1);
    }

    /** As {@link #checked(String, int, int, int)} with {@code chunks} virtual stages per rank. */
    public static Schedule checked(String pipeline, int stages, int microbatches, int activeMicrobatches,
                                   int chunks) {
        String key = pipeline + "/" + stages + "/" + microbatches + "/" + activeMicrobatches + "/" + chunks;
        return CHECKED.computeIfAbsent(key, k -> {
            Schedule s = of(pipeline, stages, microbatches, activeMicrobatches, chunks);
            ScheduleSimulator.simulate(s, 1, 2);
            return s;
        });
    }

    /** Evaluation: every stage forwards the microbatches in order; nothing runs backward. */
    public static Schedule forwardOnly(int stages, int microbatches) {
        return fillDrain("forward-only", stages, microbatches, microbatches, false);
    }

    /** Evaluation through {@code chunks} chunks per rank: each chunk's forwards in chunk order. */
    public static Schedule forwardOnly(int stages, int microbatches, int chunks) {
        return chunks == 1 ? forwardOnly(stages, microbatches)
                : fillDrainChunks("forward-only-virtual", stages, microbatches, chunks, false);
    }

    /** GPipe: all forwards in microbatch order, then all backwards in microbatch order. */
    public static Schedule gpipe(int stages, int microbatches) {
        return fillDrain("gpipe", stages, microbatches, microbatches, true);
    }

    /**
     * Fill-drain over waves of at most {@code wave} microbatches: the forwards of a wave, then (when {@code backwards})
     * its backwards.
     */
    private static Schedule fillDrain(String name, int stages, int microbatches, int wave, boolean backwards) {
        check(stages, microbatches);
        List<List<Action>> all = new ArrayList<>();
        for (int s = 0; s < stages; s++) {
            List<Action> a = new ArrayList<>();
            for (int first = 0; first < microbatches; first += wave) {
                int end = (int) Math.min((long) first + wave, microbatches);
                for (int m = first; m < end; m++) {
                    a.add(new Action(Action.Type.FORWARD, m));
                }
                for (int m = first; backwards && m < end; m++) {
                    a.add(new Action(Action.Type.BACKWARD, m));
                }
            }
            all.add(a);
        }
        return new Schedule(name, stages, microbatches, withCommunication(all, stages, 1));
    }

    /** 1F1B without a cap. */
    public static Schedule oneForwardOneBackward(int stages, int microbatches) {
        return oneForwardOneBackward(stages, microbatches, Integer.MAX_VALUE);
    }

    private static Schedule oneForwardOneBackward(int stages, int microbatches, int active) {
        check(stages, microbatches);
        List<List<Action>> all = new ArrayList<>();
        for (int s = 0; s < stages; s++) {
            List<Action> a = new ArrayList<>();
            int warmup = Math.min(Math.min(stages - 1 - s, active - 1), microbatches);
            int nextForward = 0;
            int nextBackward = 0;
            for (; nextForward < warmup; nextForward++) {
                a.add(new Action(Action.Type.FORWARD, nextForward));
            }
            while (nextForward < microbatches) {
                a.add(new Action(Action.Type.FORWARD, nextForward++));
                a.add(new Action(Action.Type.BACKWARD, nextBackward++));
            }
            while (nextBackward < microbatches) {
                a.add(new Action(Action.Type.BACKWARD, nextBackward++));
            }
            all.add(a);
        }
        return new Schedule("1f1b", stages, microbatches, withCommunication(all, stages, 1));
    }

    /**
     * The one pass that adds communication: compute-only action lists (rank r's forwards and backwards, in order) with
     * each forward's activation received before it and sent after it, and each backward's gradient received before it
     * and sent after it, wherever its global stage (chunk x P + r) has a neighbour on that side. Every generator's lists
     * go through it, and so may a hand-written schedule of forwards and backwards alone ({@link ScheduleText}).
     */
    public static List<List<Action>> withCommunication(List<List<Action>> compute, int stages, int chunks) {
        int last = stages * chunks - 1;
        List<List<Action>> out = new ArrayList<>();
        for (int r = 0; r < compute.size(); r++) {
            List<Action> a = new ArrayList<>();
            for (Action x : compute.get(r)) {
                int g = x.chunk() * stages + r;
                int m = x.microbatch();
                int c = x.chunk();
                if (x.type() == Action.Type.FORWARD) {
                    addIf(a, g > 0, new Action(Action.Type.RECV_ACTIVATION, m, c));
                    a.add(x);
                    addIf(a, g < last, new Action(Action.Type.SEND_ACTIVATION, m, c));
                } else if (x.type() == Action.Type.BACKWARD) {
                    addIf(a, g < last, new Action(Action.Type.RECV_GRADIENT, m, c));
                    a.add(x);
                    addIf(a, g > 0, new Action(Action.Type.SEND_GRADIENT, m, c));
                } else {
                    throw new IllegalArgumentException("stage " + r + ": compute-only lists hold forwards and "
                            + "backwards, not " + x);
                }
            }
            out.add(a);
        }
        return out;
    }

    private static void addIf(List<Action> a, boolean add, Action x) {
        if (add) {
            a.add(x);
        }
    }

    private static void check(int stages, int microbatches) {
        if (stages < 1) {
            throw new IllegalArgumentException("partitions must be >= 1, got " + stages);
        }
        if (microbatches < 1) {
            throw new IllegalArgumentException("microbatches must be >= 1, got " + microbatches);
        }
    }
}
