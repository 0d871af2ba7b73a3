package io.smp4j.pipeline.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The step period of consecutive pipelined steps from per-stage forward, backward and update times. */
class StepPeriodTest {
    private static double[] all(int p, double v) {
        double[] a = new double[p];
        java.util.Arrays.fill(a, v);
        return a;
    }

    @Test
    void balancedStagesTakeTheTextbookTime() {
        // Equal stages, free updates: (M + P - 1) x (f + b), for both schedules, with and without run-ahead.
        for (int p = 2; p <= 4; p++) {
            for (int m : new int[] {p, 8}) {
                double expected = (m + p - 1) * 3.0;
                assertEquals(expected, StepPeriod.of(Schedules.of("interleaved", p, m, p + 2), all(p, 1), all(p, 2),
                        all(p, 0), p + 2), 1e-9, "P=" + p + " M=" + m);
                assertEquals(expected, StepPeriod.of(Schedules.of("interleaved", p, m), all(p, 1), all(p, 2),
                        all(p, 0), 0), 1e-9, "P=" + p + " M=" + m + " in order");
                assertEquals(expected, StepPeriod.of(Schedules.of("simple", p, m), all(p, 1), all(p, 2), all(p, 0), 0),
                        1e-9, "P=" + p + " M=" + m + " simple");
            }
        }
        // Stage 0's update lies on the path from one step to the next.
        assertEquals(9 * 3.0 + 0.5, StepPeriod.of(Schedules.of("interleaved", 2, 8), all(2, 1), all(2, 2),
                new double[] {0.5, 0.5}, 0), 1e-9);
    }

    @Test
    void theSameImbalanceCostsLessWhenTheFirstStageIsTheSlower() {
        // ResNet18 on two CPU stages, ms per microbatch (measured): the same 3 ms imbalance either way, the last
        // stage's update 3x the first's. Last stage slower: it waits for stage 0's backward, update and forward
        // between steps. First stage slower: the last stage's fill, drain and update overlap stage 0's work.
        Schedule s = Schedules.of("interleaved", 2, 8, 4);
        double lastSlower = StepPeriod.of(s, new double[] {15, 10}, new double[] {21, 29}, new double[] {6, 21}, 4);
        double firstSlower = StepPeriod.of(s, new double[] {17, 9}, new double[] {22, 26}, new double[] {7, 21}, 4);
        assertEquals(8 * 39 + 21 + 6 + 15, lastSlower, 1e-9);
        assertTrue(firstSlower < lastSlower - 10, firstSlower + " vs " + lastSlower);
        // Without run-ahead stage 0 waits for the first gradient in the fill: run-ahead fills that wait with forwards.
        double inOrder = StepPeriod.of(s, new double[] {17, 9}, new double[] {22, 26}, new double[] {7, 21}, 0);
        assertTrue(firstSlower < inOrder, firstSlower + " vs " + inOrder);
    }

    @Test
    void badInputIsRefused() {
        Schedule s = Schedules.of("interleaved", 2, 4);
        assertThrows(IllegalArgumentException.class, () -> StepPeriod.of(s, all(3, 1), all(2, 1), all(2, 0), 0));
        assertThrows(IllegalArgumentException.class, () -> StepPeriod.of(Schedules.virtual(2, 4, 2), all(2, 1),
                all(2, 1), all(2, 0), 0));
    }
}
