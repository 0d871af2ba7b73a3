package io.smp4j.pipeline.schedule;

import java.util.ArrayList;
import java.util.List;

/**
 * Run-ahead, what SageMaker's interleaved pipeline does when it runs a backward "whenever possible" and a forward
 * otherwise: when a stage's next action receives a gradient that has not arrived yet, the stage first runs its next
 * forward (with that forward's receive and send), provided the forward's input is already here and the stage then
 * holds at most {@code cap} microbatches.
 *
 * <p>Why it is safe: forwards keep their order and backwards theirs, so every array is computed from the same inputs
 * in the same order as under the schedule (bitwise the same results). A forward is pulled only when it cannot wait
 * (its input is here; sends do not block), so it adds no wait to the step: a schedule without deadlock stays without
 * one, and what changes is only that the stage uses time it would have spent waiting. The cost is memory: up to
 * {@code cap} microbatches held instead of the schedule's peak.
 */
public final class RunAhead {
    private RunAhead() {
    }

    /** Whether the message a receive action waits for is already here, answered without waiting. */
    @FunctionalInterface
    public interface Arrivals {
        boolean arrived(Action receive);
    }

    /**
     * If {@code order.get(i)} receives a gradient that has not arrived, and the next forward after it can run without
     * waiting while the stage holds fewer than {@code cap} microbatches ({@code held} now), moves that forward's actions
     * (receive, forward, send) to index {@code i}.
     *
     * @return whether a forward was moved
     */
    public static boolean pull(List<Action> order, int i, int held, int cap, Arrivals arrivals) {
        Action a = order.get(i);
        if (a.type() != Action.Type.RECV_GRADIENT || held >= cap || arrivals.arrived(a)) {
            return false;
        }
        int j = i + 1;
        while (j < order.size() && order.get(j).type() != Action.Type.FORWARD) {
            j++;
        }
        if (j == order.size()) {
            return false;
        }
        Action f = order.get(j);
        int start = j;
        Action before = order.get(j - 1);
        if (before.type() == Action.Type.RECV_ACTIVATION && same(before, f)) {
            if (!arrivals.arrived(before)) {
                return false;
            }
            start = j - 1;
        }
        int end = j + 1;
        if (end < order.size() && order.get(end).type() == Action.Type.SEND_ACTIVATION && same(order.get(end), f)) {
            end++;
        }
        List<Action> group = new ArrayList<>(order.subList(start, end));
        order.subList(start, end).clear();
        order.addAll(i, group);
        return true;
    }

    private static boolean same(Action a, Action b) {
        return a.microbatch() == b.microbatch() && a.chunk() == b.chunk();
    }
}
