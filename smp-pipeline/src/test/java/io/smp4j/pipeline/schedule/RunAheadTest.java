package io.smp4j.pipeline.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The run-ahead policy on its own: what it moves, and what it never changes. */
class RunAheadTest {
    /** A stage's walk through its actions as the executor does it, with run-ahead at every action. */
    private static List<Action> walk(List<Action> scheduled, int stage, int stages, int cap,
                                     RunAhead.Arrivals arrivals, int[] peak) {
        List<Action> order = new ArrayList<>(scheduled);
        Set<List<Integer>> holding = new HashSet<>();
        int held = 0;
        for (int i = 0; i < order.size(); i++) {
            RunAhead.pull(order, i, held, cap, arrivals);
            Action a = order.get(i);
            List<Integer> key = List.of(a.chunk(), a.microbatch());
            if ((a.type() == Action.Type.RECV_ACTIVATION || a.type() == Action.Type.FORWARD) && holding.add(key)) {
                held++;
            }
            int global = a.chunk() * stages + stage;
            Action.Type lastType = global == 0 ? Action.Type.BACKWARD : Action.Type.SEND_GRADIENT;
            if (a.type() == lastType && holding.remove(key)) {
                held--;
            }
            peak[0] = Math.max(peak[0], held);
        }
        return order;
    }

    private static List<Action> ofType(List<Action> actions, Action.Type type) {
        return actions.stream().filter(a -> a.type() == type).toList();
    }

    /**
     * For every 1F1B (and virtual-stage) shape with P <= 6, M <= 16, caps P .. P + 2, every stage, and random
     * arrivals: the same actions run, forwards and backwards each in the schedule's order, each forward right after
     * its receive and right before its send, a backward only after its gradient's receive, and never more than the
     * cap (or the schedule's own peak, where that is higher) held at once.
     */
    @Test
    void keepsOrdersDependenciesAndTheCap() {
        Random rnd = new Random(7);
        int moved = 0;
        for (int p = 1; p <= 6; p++) {
            for (int m = 1; m <= 16; m++) {
                for (int cap = p; cap <= p + 2; cap++) {
                    for (int v : new int[] {1, 2}) {
                        if (v > 1 && (m % p != 0 || p == 1)) {
                            continue;
                        }
                        Schedule s = Schedules.of("interleaved", p, m, cap, v);
                        for (int stage = 0; stage < p; stage++) {
                            List<Action> scheduled = s.forStage(stage);
                            int[] staticPeak = {0};
                            walk(scheduled, stage, p, 0, a -> true, staticPeak);
                            int[] peak = {0};
                            List<Action> ran = walk(scheduled, stage, p, cap, a -> rnd.nextInt(3) > 0, peak);
                            String what = "P=" + p + " M=" + m + " cap=" + cap + " v=" + v + " stage " + stage;
                            assertEquals(new HashSet<>(scheduled), new HashSet<>(ran), what);
                            assertEquals(scheduled.size(), ran.size(), what);
                            assertEquals(ofType(scheduled, Action.Type.FORWARD), ofType(ran, Action.Type.FORWARD),
                                    what);
                            assertEquals(ofType(scheduled, Action.Type.BACKWARD), ofType(ran, Action.Type.BACKWARD),
                                    what);
                            assertTrue(peak[0] <= Math.max(cap, staticPeak[0]), what + ": held " + peak[0]);
                            checkDependencies(ran, what);
                            moved += ran.equals(scheduled) ? 0 : 1;
                        }
                    }
                }
            }
        }
        assertTrue(moved > 100, "run-ahead moved forwards in " + moved + " stage walks");
    }

    private static void checkDependencies(List<Action> ran, String what) {
        for (int i = 0; i < ran.size(); i++) {
            Action a = ran.get(i);
            if (a.type() == Action.Type.FORWARD && i > 0 && ran.get(i - 1).type() != Action.Type.RECV_ACTIVATION) {
                // A stage without a previous one has no receive: only then may a forward follow another action.
                assertFalse(ran.contains(new Action(Action.Type.RECV_ACTIVATION, a.microbatch(), a.chunk())), what);
            }
            if (a.type() == Action.Type.SEND_ACTIVATION) {
                assertEquals(new Action(Action.Type.FORWARD, a.microbatch(), a.chunk()), ran.get(i - 1), what);
            }
            if (a.type() == Action.Type.BACKWARD) {
                int f = ran.indexOf(new Action(Action.Type.FORWARD, a.microbatch(), a.chunk()));
                int g = ran.indexOf(new Action(Action.Type.RECV_GRADIENT, a.microbatch(), a.chunk()));
                assertTrue(f >= 0 && f < i && g < i, what + ": " + a + " at " + i);
            }
        }
    }

    /** Gradients always late, activations always here: stage 0 of P = 2 fills up to the cap, then alternates. */
    @Test
    void lateGradientsFillUpToTheCap() {
        Schedule s = Schedules.of("interleaved", 2, 8, 4);
        List<Action> ran = walk(s.forStage(0), 0, 2, 4, a -> a.type() != Action.Type.RECV_GRADIENT, new int[1]);
        assertEquals("F0 SA0 F1 SA1 F2 SA2 F3 SA3 RG0 B0 F4 SA4 RG1 B1 F5 SA5 RG2 B2 F6 SA6 RG3 B3 F7 SA7 RG4 B4 RG5 "
                + "B5 RG6 B6 RG7 B7", String.join(" ", ran.stream().map(Action::toString).toList()));
        // Gradients always here: the schedule's own order.
        assertEquals(s.forStage(0), walk(s.forStage(0), 0, 2, 4, a -> true, new int[1]));
        // An activation not here yet: stage 1 of P = 3 does not pull that forward (it would wait), and stays in order.
        Schedule three = Schedules.of("interleaved", 3, 8, 5);
        assertEquals(three.forStage(1), walk(three.forStage(1), 1, 3, 5, a -> false, new int[1]));
    }
}
