package io.smp4j.pipeline.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class SchedulesTest {
    /** Both schedules, P = 1..6, M = 1..12, backward as costly as forward and twice as costly. */
    @Test
    void bubbleIsTheClosedFormAndActivationPeaksAreAsPromised() {
        for (String name : new String[] {"simple", "interleaved"}) {
            for (int p = 1; p <= 6; p++) {
                for (int m = 1; m <= 12; m++) {
                    for (double b : new double[] {1, 2}) {
                        Schedule s = Schedules.of(name, p, m);
                        ScheduleSimulator.Report r = ScheduleSimulator.simulate(s, 1, b);
                        String what = name + " P=" + p + " M=" + m + " b=" + b;
                        assertEquals((p - 1.0) / (m + p - 1), r.bubbleFraction(), 1e-12, what);
                        assertEquals((m + p - 1) * (1 + b), r.makespan(), 1e-9, what);
                        for (int st = 0; st < p; st++) {
                            int expected = name.equals("simple") ? m : Math.min(p - st, m);
                            assertEquals(expected, r.peakActivations()[st], what + " stage " + st);
                            assertEquals(m * (1 + b), r.busy()[st], 1e-9, what);
                        }
                    }
                }
            }
        }
    }

    /** active_microbatches caps in-flight microbatches without deadlock, for every small P, M and cap. */
    @Test
    void activeMicrobatchesCapsWhatAStageHolds() {
        for (String name : new String[] {"simple", "interleaved"}) {
            for (int p = 1; p <= 5; p++) {
                for (int m = 1; m <= 10; m++) {
                    for (int cap = 1; cap <= 6; cap++) {
                        ScheduleSimulator.Report r = ScheduleSimulator.simulate(Schedules.of(name, p, m, cap), 1, 2);
                        for (int st = 0; st < p; st++) {
                            int natural = name.equals("simple") ? m : Math.min(p - st, m);
                            assertEquals(Math.min(natural, cap), r.peakActivations()[st],
                                    name + " P=" + p + " M=" + m + " cap=" + cap + " stage " + st);
                        }
                    }
                }
            }
        }
        // A cap at or above the natural bound changes nothing.
        assertEquals(Schedules.gpipe(3, 6).actions(), Schedules.of("simple", 3, 6, 6).actions());
        assertEquals(Schedules.oneForwardOneBackward(3, 6).actions(), Schedules.of("interleaved", 3, 6, 5).actions());
        assertEquals(List.of("stage 0: F0 SA0 F1 SA1 RG0 B0 RG1 B1 F2 SA2 RG2 B2",
                "stage 1: RA0 F0 RA1 F1 B0 SG0 B1 SG1 RA2 F2 B2 SG2"), Schedules.of("simple", 2, 3, 2).lines());
    }

    @Test
    void textFormIsShortAndRoundTrips() {
        Schedule s = Schedules.oneForwardOneBackward(2, 3);
        assertEquals(List.of("stage 0: F0 SA0 F1 SA1 RG0 B0 F2 SA2 RG1 B1 RG2 B2",
                "stage 1: RA0 F0 B0 SG0 RA1 F1 B1 SG1 RA2 F2 B2 SG2"), s.lines());
        assertEquals(s.actions(), Schedule.parse("x", 3, s.lines()).actions());
        assertEquals(List.of("stage 0: F0 SA0 F1 SA1 RG0 B0 RG1 B1", "stage 1: RA0 F0 RA1 F1 B0 SG0 B1 SG1"),
                Schedules.gpipe(2, 2).lines());
    }

    private static String rejection(int m, String... lines) {
        return assertThrows(ScheduleSimulator.InvalidScheduleException.class,
                () -> ScheduleSimulator.simulate(Schedule.parse("bad", m, List.of(lines)), 1, 1)).getMessage();
    }

    /** What the runtime runs is checked by the simulator once per shape, then shared. */
    @Test
    void checkedSchedulesAreSimulatedOnceAndCached() {
        Schedule a = Schedules.checked("interleaved", 3, 5, 4);
        assertEquals("1f1b", a.name());
        assertEquals(a.actions(), Schedules.of("interleaved", 3, 5, 4).actions());
        org.junit.jupiter.api.Assertions.assertSame(a, Schedules.checked("interleaved", 3, 5, 4));
        assertEquals("gpipe", Schedules.checked("simple", 3, 5, 4).name());
    }

    @Test
    void brokenSchedulesAreRejectedWithTheReason() {
        // Both stages first wait for the other: stage 0 for a gradient, stage 1 for an activation sent after it.
        assertEquals("deadlock: stage 0 waits at RG0 (action 1); stage 1 waits at RA0 (action 0);",
                rejection(1, "stage 0: F0 RG0 SA0 B0", "stage 1: RA0 F0 B0 SG0"));
        assertEquals("stage 1, action F0: its activation was not received first (RA0)",
                rejection(1, "stage 0: F0 SA0 RG0 B0", "stage 1: F0 RA0 B0 SG0"));
        assertEquals("stage 0, action B0: its forward has not run", rejection(1, "stage 0: B0 F0"));
        assertEquals("stage 0, action F0: it runs twice", rejection(1, "stage 0: F0 F0 B0"));
        assertEquals("stage 0 forwards 1 and backwards 1 of the 2 microbatches", rejection(2, "stage 0: F0 B0"));
        assertEquals("stage 0, action F3: microbatch 3 does not exist (M = 2)", rejection(2, "stage 0: F3"));
        assertEquals("'X1' is not an action; examples: F0, B3, RA1, SA1, RG2, SG2, F0:1",
                assertThrows(IllegalArgumentException.class, () -> Action.parse("X1")).getMessage());
        assertEquals("pipeline must be one of interleaved, simple; got \"gpipe\"",
                assertThrows(IllegalArgumentException.class, () -> Schedules.of("gpipe", 2, 2)).getMessage());
        assertEquals(true, Schedules.runsAhead(" Interleaved"));
        assertEquals(false, Schedules.runsAhead("simple"));
    }

    /**
     * Virtual stages, checked for every P <= 6, M <= 16 (multiples of P), v <= 4: each (microbatch, chunk) forwarded
     * and backwarded once per rank in dependency order without deadlock; the bubble is the closed form
     * (P-1)/(vM+P-1) (within rounding); a rank holds at most 2(P-r-1) + (v-1)P + 1 chunk activations; within a chunk
     * the backwards run in microbatch order (gradients accumulate as in one process).
     */
    @Test
    void virtualStagesShrinkTheBubbleAsPromised() {
        int checked = 0;
        for (int p = 1; p <= 6; p++) {
            for (int v = 1; v <= 4; v++) {
                for (int m = p; m <= 16; m += p) {
                    Schedule s = Schedules.virtual(p, m, v);
                    ScheduleSimulator.Report r = ScheduleSimulator.simulate(s, 1, 2);
                    double closed = (p - 1.0) / (v * m + p - 1.0);
                    assertEquals(closed, r.bubbleFraction(), 1e-9, s.toString());
                    for (int rank = 0; rank < p; rank++) {
                        int bound = Math.min(m * v, 2 * (p - rank - 1) + (v - 1) * p + 1);
                        assertTrue(r.peakActivations()[rank] <= bound, "rank " + rank + " holds "
                                + r.peakActivations()[rank] + " > " + bound + "\n" + s);
                        int[] lastBackward = new int[v];
                        java.util.Arrays.fill(lastBackward, -1);
                        for (Action a : s.forStage(rank)) {
                            if (a.type() == Action.Type.BACKWARD) {
                                assertEquals(lastBackward[a.chunk()] + 1, a.microbatch(), s.toString());
                                lastBackward[a.chunk()] = a.microbatch();
                            }
                        }
                    }
                    if (v == 1) {
                        assertEquals(ScheduleSimulator.simulate(Schedules.oneForwardOneBackward(p, m), 1, 2)
                                .makespan(), r.makespan(), 1e-9, "v = 1 is 1F1B");
                    }
                    checked++;
                }
            }
        }
        assertTrue(checked > 100);
        // Two chunks halve the bubble's share of a step at P = 2, M = 8: 1/9 -> 1/17.
        assertEquals(1.0 / 17, ScheduleSimulator.simulate(Schedules.of("interleaved", 2, 8, 4, 2), 1, 2)
                .bubbleFraction(), 1e-9);
        assertEquals("F0:1", new Action(Action.Type.FORWARD, 0, 1).toString());
        assertEquals(new Action(Action.Type.RECV_GRADIENT, 3, 2), Action.parse("RG3:2"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Schedules.virtual(4, 6, 2));
        assertTrue(e.getMessage().contains("multiple of partitions"), e.getMessage());
        // Fill-drain through chunks is valid too (the simple pipeline with virtual stages).
        ScheduleSimulator.simulate(Schedules.of("simple", 3, 5, 8, 2), 1, 2);
    }

    /**
     * Every generator's lists are compute-only lists through the one communication pass: stripping a schedule to its
     * forwards and backwards and passing them through again gives the schedule back, for every generator.
     */
    @Test
    void everyScheduleIsItsComputeOnlyListsPlusOneCommunicationPass() {
        List<Schedule> all = List.of(Schedules.gpipe(3, 4), Schedules.oneForwardOneBackward(3, 5),
                Schedules.of("simple", 2, 6, 3), Schedules.of("interleaved", 4, 8, 2), Schedules.virtual(2, 4, 2),
                Schedules.of("simple", 2, 4, Integer.MAX_VALUE, 3), Schedules.forwardOnly(3, 2));
        for (Schedule s : all) {
            List<List<Action>> compute = s.actions().stream()
                    .map(l -> l.stream().filter(a -> a.type().computes()).toList()).toList();
            assertEquals(s.actions(), Schedules.withCommunication(compute, s.stages(), s.chunks()), s.toString());
        }
        assertThrows(IllegalArgumentException.class, () -> Schedules.withCommunication(
                List.of(List.of(Action.parse("SA0"))), 2, 1));
    }

    /** A hand-written file of forwards and backwards alone gets its communication, then the simulator's check. */
    @Test
    void aComputeOnlyScheduleFileGetsItsSendsAndReceives() {
        Schedule s = ScheduleText.fromText("mine.txt", List.of("# GPipe by hand", "stage 0: F0 F1 B0 B1",
                "stage 1: F0 F1 B0 B1"), 2, 2, 1);
        assertEquals(Schedules.gpipe(2, 2).actions(), s.actions());
        String e = assertThrows(IllegalArgumentException.class, () -> ScheduleText.fromText("bad.txt",
                List.of("stage 0: F0 F1 B0 B1", "stage 1: F0 B0"), 2, 2, 1)).getMessage();
        // Stage 1 never runs microbatch 1: stage 0 waits for its gradient forever.
        assertEquals("schedule_file bad.txt is not a schedule for 2 stages x 2 microbatches: deadlock: stage 0 waits at "
                + "RG1 (action 6);", e);
    }
}
