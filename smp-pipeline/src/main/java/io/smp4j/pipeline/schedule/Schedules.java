package io.smp4j.pipeline.schedule;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The two schedules of SageMaker smp, as pure functions of (stages, microbatches).
 *
 * <ul>
 *   <li>{@code simple}: GPipe fill-drain. Every stage runs all M forwards, then all M backwards. Peak activations
 *       held per stage: M.</li>
 *   <li>{@code interleaved}: one-forward-one-backward (1F1B). Stage s warms up with min(P-1-s, M) forwards, then
 *       alternates one forward and one backward, then drains the remaining backwards. Peak activations held: at
 *       most P - s, independent of M.</li>
 * </ul>
 * Backwards run in microbatch order 0..M-1 in both, so gradients accumulate in the same order as an unsplit run.
 */
public final class Schedules {
    private Schedules() {
    }

    /** {@code simple} or {@code interleaved} (SageMaker's {@code pipeline} values), without a cap. */
    public static Schedule of(String pipeline, int stages, int microbatches) {
        return of(pipeline, stages, microbatches, Integer.MAX_VALUE);
    }

    /**
     * {@code simple} or {@code interleaved} with at most {@code activeMicrobatches} microbatches in flight on any
     * stage (SageMaker's {@code active_microbatches}): simple runs fill-drain in waves of that many microbatches;
     * interleaved shortens its warm-up to activeMicrobatches - 1 when that is below its natural bound.
     */
    public static Schedule of(String pipeline, int stages, int microbatches, int activeMicrobatches) {
        if (activeMicrobatches < 1) {
            throw new IllegalArgumentException("active_microbatches must be >= 1, got " + activeMicrobatches);
        }
        String p = pipeline == null ? "" : pipeline.trim().toLowerCase(Locale.ROOT);
        return switch (p) {
            case "simple" -> waves(stages, microbatches, activeMicrobatches);
            case "interleaved" -> interleaved(stages, microbatches, activeMicrobatches);
            default -> throw new IllegalArgumentException("pipeline '" + pipeline + "' is not valid; allowed: "
                    + "simple, interleaved");
        };
    }

    /** Fill-drain over waves of at most {@code wave} microbatches: forwards of a wave, then its backwards. */
    private static Schedule waves(int stages, int microbatches, int wave) {
        check(stages, microbatches);
        List<List<Action>> all = new ArrayList<>();
        for (int s = 0; s < stages; s++) {
            List<Action> a = new ArrayList<>();
            for (int first = 0; first < microbatches; first += wave) {
                int end = (int) Math.min((long) first + wave, microbatches);
                for (int m = first; m < end; m++) {
                    forward(a, s, stages, m);
                }
                for (int m = first; m < end; m++) {
                    backward(a, s, stages, m);
                }
            }
            all.add(a);
        }
        return new Schedule("simple", stages, microbatches, all);
    }

    /** Evaluation: every stage forwards the microbatches in order; nothing runs backward. */
    public static Schedule forwardOnly(int stages, int microbatches) {
        return fillDrain("forward-only", stages, microbatches, false);
    }

    public static Schedule simple(int stages, int microbatches) {
        return fillDrain("simple", stages, microbatches, true);
    }

    /** All forwards in microbatch order, then (when training) all backwards in microbatch order. */
    private static Schedule fillDrain(String name, int stages, int microbatches, boolean backwards) {
        check(stages, microbatches);
        List<List<Action>> all = new ArrayList<>();
        for (int s = 0; s < stages; s++) {
            List<Action> a = new ArrayList<>();
            for (int m = 0; m < microbatches; m++) {
                forward(a, s, stages, m);
            }
            for (int m = 0; backwards && m < microbatches; m++) {
                backward(a, s, stages, m);
            }
            all.add(a);
        }
        return new Schedule(name, stages, microbatches, all);
    }

    public static Schedule interleaved(int stages, int microbatches) {
        return interleaved(stages, microbatches, Integer.MAX_VALUE);
    }

    private static Schedule interleaved(int stages, int microbatches, int active) {
        check(stages, microbatches);
        List<List<Action>> all = new ArrayList<>();
        for (int s = 0; s < stages; s++) {
            List<Action> a = new ArrayList<>();
            int warmup = Math.min(Math.min(stages - 1 - s, active - 1), microbatches);
            int nextForward = 0;
            int nextBackward = 0;
            for (; nextForward < warmup; nextForward++) {
                forward(a, s, stages, nextForward);
            }
            while (nextForward < microbatches) {
                forward(a, s, stages, nextForward++);
                backward(a, s, stages, nextBackward++);
            }
            while (nextBackward < microbatches) {
                backward(a, s, stages, nextBackward++);
            }
            all.add(a);
        }
        return new Schedule("interleaved", stages, microbatches, all);
    }

    private static void forward(List<Action> a, int s, int stages, int m) {
        if (s > 0) {
            a.add(new Action(Action.Type.RECV_ACTIVATION, m));
        }
        a.add(new Action(Action.Type.FORWARD, m));
        if (s < stages - 1) {
            a.add(new Action(Action.Type.SEND_ACTIVATION, m));
        }
    }

    private static void backward(List<Action> a, int s, int stages, int m) {
        if (s < stages - 1) {
            a.add(new Action(Action.Type.RECV_GRADIENT, m));
        }
        a.add(new Action(Action.Type.BACKWARD, m));
        if (s > 0) {
            a.add(new Action(Action.Type.SEND_GRADIENT, m));
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
