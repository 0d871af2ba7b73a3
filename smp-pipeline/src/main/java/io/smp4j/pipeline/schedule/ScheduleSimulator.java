package io.smp4j.pipeline.schedule;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Runs a {@link Schedule} without tensors: checks that every stage forwards and backwards each microbatch exactly
 * once, in dependency order (receive before compute, forward before backward, compute before send), and that no
 * stage waits forever (deadlock); every send then has its receive, since each forward and backward needs one. It
 * then reports, for the given unit costs, the
 * time line, the bubble fraction and the peak number of microbatches whose activations each stage holds.
 *
 * <p>Sends are non-blocking (buffered), as in the executor; receives block until the matching send happened.
 */
public final class ScheduleSimulator {
    private ScheduleSimulator() {
    }

    /**
     * What a simulated step looks like.
     *
     * @param makespan        time until the last stage finishes
     * @param busy            per stage, time spent computing
     * @param bubbleFraction  idle share of the stages' time: 1 - sum(busy) / (P x makespan)
     * @param peakActivations per stage, the most microbatches forwarded but not yet backwarded at once
     * @param finishTimes     per stage, when it finished
     */
    public record Report(double makespan, double[] busy, double bubbleFraction, int[] peakActivations,
                         double[] finishTimes) {
    }

    /** A schedule that cannot run: the message names the stage, the action and the reason. */
    public static final class InvalidScheduleException extends IllegalArgumentException {
        public InvalidScheduleException(String message) {
            super(message);
        }
    }

    /** A message across the boundary between global stages {@code edge} and {@code edge + 1}. */
    private record Message(boolean activation, int microbatch, int edge) {
    }

    /**
     * Simulates {@code schedule} with {@code forwardCost} and {@code backwardCost} per microbatch for a whole rank's
     * share of the model: with v chunks per rank, each chunk's forward costs forwardCost / v. Peak activations count
     * (chunk, microbatch) pairs held: with v chunks, each is 1/v of a rank's activations for one microbatch.
     */
    public static Report simulate(Schedule schedule, double forwardCost, double backwardCost) {
        int p = schedule.stages();
        int m = schedule.microbatches();
        int v = schedule.chunks();
        int last = p * v - 1;
        double fc = forwardCost / v;
        double bc = backwardCost / v;
        int[] next = new int[p];
        double[] clock = new double[p];
        double[] busy = new double[p];
        int[] held = new int[p];
        int[] peak = new int[p];
        // Per rank, by chunk * M + microbatch.
        List<Set<Integer>> forwarded = new ArrayList<>();
        List<Set<Integer>> backwarded = new ArrayList<>();
        List<Set<Integer>> gotActivation = new ArrayList<>();
        List<Set<Integer>> gotGradient = new ArrayList<>();
        for (int s = 0; s < p; s++) {
            forwarded.add(new HashSet<>());
            backwarded.add(new HashSet<>());
            gotActivation.add(new HashSet<>());
            gotGradient.add(new HashSet<>());
        }
        Map<Message, Double> sent = new HashMap<>();
        Set<Message> received = new HashSet<>();

        boolean progress = true;
        while (progress) {
            progress = false;
            for (int s = 0; s < p; s++) {
                List<Action> acts = schedule.forStage(s);
                while (next[s] < acts.size()) {
                    Action a = acts.get(next[s]);
                    int mb = a.microbatch();
                    if (mb >= m) {
                        throw invalid(s, a, "microbatch " + mb + " does not exist (M = " + m + ")");
                    }
                    if (a.chunk() >= v) {
                        throw invalid(s, a, "chunk " + a.chunk() + " does not exist (" + v + " per rank)");
                    }
                    int g = a.chunk() * p + s;
                    int key = a.chunk() * m + mb;
                    boolean done = switch (a.type()) {
                        case FORWARD -> {
                            require(s, a, g == 0 || gotActivation.get(s).contains(key), "its activation was not "
                                    + "received first (RA" + mb + suffix(a) + ")");
                            require(s, a, forwarded.get(s).add(key), "it runs twice");
                            clock[s] += fc;
                            busy[s] += fc;
                            peak[s] = Math.max(peak[s], ++held[s]);
                            yield true;
                        }
                        case BACKWARD -> {
                            require(s, a, forwarded.get(s).contains(key), "its forward has not run");
                            require(s, a, g == last || gotGradient.get(s).contains(key), "its gradient was not "
                                    + "received first (RG" + mb + suffix(a) + ")");
                            require(s, a, backwarded.get(s).add(key), "it runs twice");
                            clock[s] += bc;
                            busy[s] += bc;
                            held[s]--;
                            yield true;
                        }
                        case SEND_ACTIVATION -> {
                            require(s, a, g < last, "the last stage has no next stage");
                            require(s, a, forwarded.get(s).contains(key), "its forward has not run");
                            require(s, a, sent.put(new Message(true, mb, g), clock[s]) == null, "it is sent twice");
                            yield true;
                        }
                        case SEND_GRADIENT -> {
                            require(s, a, g > 0, "the first stage has no previous stage");
                            require(s, a, backwarded.get(s).contains(key), "its backward has not run");
                            require(s, a, sent.put(new Message(false, mb, g - 1), clock[s]) == null,
                                    "it is sent twice");
                            yield true;
                        }
                        case RECV_ACTIVATION -> {
                            require(s, a, g > 0, "the first stage has no previous stage");
                            yield receive(new Message(true, mb, g - 1), s, clock, sent, received,
                                    gotActivation.get(s), key);
                        }
                        case RECV_GRADIENT -> {
                            require(s, a, g < last, "the last stage has no next stage");
                            yield receive(new Message(false, mb, g), s, clock, sent, received,
                                    gotGradient.get(s), key);
                        }
                    };
                    if (!done) {
                        break; // blocked on a receive: let the other stages run
                    }
                    next[s]++;
                    progress = true;
                }
            }
        }
        StringBuilder stuck = new StringBuilder();
        for (int s = 0; s < p; s++) {
            if (next[s] < schedule.forStage(s).size()) {
                stuck.append(String.format(" stage %d waits at %s (action %d);", s, schedule.forStage(s).get(next[s]),
                        next[s]));
            }
        }
        if (stuck.length() > 0) {
            throw new InvalidScheduleException("deadlock:" + stuck);
        }
        for (int s = 0; s < p; s++) {
            if (forwarded.get(s).size() != m * v || backwarded.get(s).size() != m * v) {
                throw new InvalidScheduleException("stage " + s + " forwards " + forwarded.get(s).size() + " and "
                        + "backwards " + backwarded.get(s).size() + " of the " + m * v + (v == 1 ? " microbatches"
                        : " (microbatch, chunk) pairs"));
            }
        }
        double makespan = 0;
        double work = 0;
        for (int s = 0; s < p; s++) {
            makespan = Math.max(makespan, clock[s]);
            work += busy[s];
        }
        double bubble = makespan == 0 ? 0 : 1 - work / (p * makespan);
        return new Report(makespan, busy, bubble, peak, clock.clone());
    }

    private static String suffix(Action a) {
        return a.chunk() == 0 ? "" : ":" + a.chunk();
    }

    private static boolean receive(Message msg, int s, double[] clock, Map<Message, Double> sent,
                                   Set<Message> received, Set<Integer> got, int key) {
        Double at = sent.get(msg);
        if (at == null) {
            return false;
        }
        if (!received.add(msg)) {
            throw new InvalidScheduleException("stage " + s + " receives microbatch " + msg.microbatch() + "'s "
                    + (msg.activation() ? "activation" : "gradient") + " twice");
        }
        clock[s] = Math.max(clock[s], at);
        got.add(key);
        return true;
    }

    private static void require(int stage, Action a, boolean ok, String why) {
        if (!ok) {
            throw invalid(stage, a, why);
        }
    }

    private static InvalidScheduleException invalid(int stage, Action a, String why) {
        return new InvalidScheduleException("stage " + stage + ", action " + a + ": " + why);
    }
}
