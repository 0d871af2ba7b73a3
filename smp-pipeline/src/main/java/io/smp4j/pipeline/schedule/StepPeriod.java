package io.smp4j.pipeline.schedule;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * How long a training step takes in a run of steps, from each stage's forward, backward and optimizer-update time:
 * the schedule simulated over consecutive steps, event by event, with run-ahead as the executor does it.
 *
 * <p>Why the slowest stage alone does not tell: the pipeline's fill and drain are not symmetric. A step cannot start
 * on stage 0 before stage 0 has finished the last backward of the step before and its update, so when the last stage
 * is the slowest, it waits for a whole microbatch of stage 0 plus stage 0's update between steps; when stage 0 is the
 * slowest, the later stages' fill and drain overlap stage 0's own backwards and forwards (run-ahead), and the later
 * stages' updates fall into time they would wait anyway. Two plans with the same slowest-stage cost can differ by a
 * whole microbatch per step; re-partitioning compares plans by this period.
 *
 * <p>One chunk per rank (no virtual stages); messages cost nothing. Pure and deterministic.
 */
public final class StepPeriod {
    /** Steps simulated: the first ones settle, the period is measured over the last ones. */
    static final int STEPS = 5;
    private static final int SETTLE = 2;

    private StepPeriod() {
    }

    /**
     * The steady-state time from one step's start on stage 0 to the next's.
     *
     * @param schedule one step's actions per stage (one chunk per rank)
     * @param forward  per stage, forward time of one microbatch
     * @param backward per stage, backward time of one microbatch
     * @param update   per stage, the optimizer update after each step
     * @param runAhead active_microbatches when the stages run ahead (interleaved), 0 when they keep the order
     */
    public static double of(Schedule schedule, double[] forward, double[] backward, double[] update, int runAhead) {
        int p = schedule.stages();
        if (schedule.chunks() != 1) {
            throw new IllegalArgumentException("a step period is estimated for one chunk per rank, not "
                    + schedule.chunks());
        }
        if (forward.length != p || backward.length != p || update.length != p) {
            throw new IllegalArgumentException("per-stage times for " + forward.length + ", " + backward.length
                    + " and " + update.length + " stages; the schedule has " + p);
        }
        double[] clock = new double[p];
        int[] step = new int[p];
        int[] next = new int[p];
        int[] held = new int[p];
        List<List<Action>> order = new ArrayList<>();
        for (int s = 0; s < p; s++) {
            order.add(new ArrayList<>(schedule.forStage(s)));
        }
        double[] stepStart = new double[STEPS + 1];
        // When each message was sent: key (step, activation?, microbatch, edge).
        Map<List<Integer>, Double> sent = new HashMap<>();
        while (true) {
            int pick = -1;
            for (int s = 0; s < p; s++) {
                if (step[s] < STEPS && ready(order.get(s).get(next[s]), s, step[s], sent)
                        && (pick < 0 || clock[s] < clock[pick])) {
                    pick = s;
                }
            }
            if (pick < 0) {
                break;
            }
            int s = pick;
            List<Action> acts = order.get(s);
            if (runAhead > 0) {
                int st = step[s];
                double now = clock[s];
                RunAhead.pull(acts, next[s], held[s], runAhead, r -> {
                    Double at = sent.get(key(st, r, s));
                    return at != null && at <= now;
                });
            }
            Action a = acts.get(next[s]);
            switch (a.type()) {
                case FORWARD -> {
                    clock[s] += forward[s];
                    held[s]++;
                }
                case BACKWARD -> {
                    clock[s] += backward[s];
                    held[s]--;
                }
                case SEND_ACTIVATION, SEND_GRADIENT -> sent.put(sentKey(step[s], a, s), clock[s]);
                case RECV_ACTIVATION, RECV_GRADIENT -> clock[s] = Math.max(clock[s], sent.get(key(step[s], a, s)));
                default -> throw new IllegalStateException("unknown action " + a);
            }
            if (++next[s] == acts.size()) {
                clock[s] += update[s];
                step[s]++;
                next[s] = 0;
                held[s] = 0;
                order.set(s, new ArrayList<>(schedule.forStage(s)));
                if (s == 0) {
                    stepStart[step[s]] = clock[s];
                }
            }
        }
        for (int s = 0; s < p; s++) {
            if (step[s] < STEPS) {
                throw new IllegalArgumentException("schedule " + schedule.name() + " deadlocks: stage " + s
                        + " waits at " + order.get(s).get(next[s]));
            }
        }
        return (stepStart[STEPS] - stepStart[SETTLE]) / (STEPS - SETTLE);
    }

    private static boolean ready(Action a, int stage, int step, Map<List<Integer>, Double> sent) {
        return switch (a.type()) {
            case RECV_ACTIVATION, RECV_GRADIENT -> sent.containsKey(key(step, a, stage));
            default -> true;
        };
    }

    /** The message a receive on {@code stage} waits for. */
    private static List<Integer> key(int step, Action receive, int stage) {
        boolean activation = receive.type() == Action.Type.RECV_ACTIVATION;
        return List.of(step, activation ? 1 : 0, receive.microbatch(), activation ? stage - 1 : stage);
    }

    /** The message a send from {@code stage} makes (keyed as its receive finds it). */
    private static List<Integer> sentKey(int step, Action send, int stage) {
        boolean activation = send.type() == Action.Type.SEND_ACTIVATION;
        return List.of(step, activation ? 1 : 0, send.microbatch(), activation ? stage : stage - 1);
    }
}
