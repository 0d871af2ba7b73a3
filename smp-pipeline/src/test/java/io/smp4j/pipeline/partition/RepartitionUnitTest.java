package io.smp4j.pipeline.partition;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The re-partitioning decision: scale each stage's profile by its measured time, re-plan, keep small gains out. */
class RepartitionUnitTest {
    static PartitionPlan plan(int[] boundaries, double... times) {
        List<UnitCost> units = new ArrayList<>();
        for (int i = 0; i < times.length; i++) {
            units.add(new UnitCost("u" + i, times[i], 10, 40, 100));
        }
        return new PartitionPlan(units, boundaries, 0, "auto");
    }

    @Test
    void aStageSlowerThanProfiledGivesUpUnits() {
        // Profiled: four equal units, split 2 | 2. Measured: stage 1 runs 3x slower than its profile said.
        PartitionPlan p = plan(new int[] {0, 2, 4}, 1, 1, 1, 1);
        Repartition.Proposal r = Repartition.propose(p, new double[] {2, 6}, 0.05, null, 1, 0);
        assertArrayEquals(new int[] {0, 3, 4}, r.plan().boundaries());
        // Scaled costs: stage 0 = 1 + 1 + 3 = 5 against 6 before.
        assertEquals(1 - 5.0 / 6, r.gain(), 1e-12);
        assertEquals(3.0, r.plan().units().get(2).timeMillis(), 1e-12);
        assertEquals(List.of("u0", "u1", "u2", "u3"), r.plan().unitNames());
    }

    @Test
    void gainsWithinTheThresholdKeepThePlan() {
        PartitionPlan p = plan(new int[] {0, 2, 4}, 1, 1, 1, 1);
        assertNull(Repartition.propose(p, new double[] {2, 2}, 0.05, null, 1, 0), "balanced as measured");
        // Stage 1 measured 10% slower: the best move (a whole unit) makes it worse, nothing to gain.
        assertNull(Repartition.propose(p, new double[] {2, 2.2}, 0.05, null, 1, 0));
        // Finer units, stage 1 measured 30% slower: moving one of its units (1.3) makes the stages 6.3 and 5.2, a
        // gain of 1 - 6.3 / 6.5 = 3.1%: under a 5% threshold, over a 1% one.
        PartitionPlan fine = plan(new int[] {0, 5, 10}, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1);
        assertNull(Repartition.propose(fine, new double[] {5, 6.5}, 0.05, null, 1, 0));
        Repartition.Proposal r = Repartition.propose(fine, new double[] {5, 6.5}, 0.01, null, 1, 0);
        assertArrayEquals(new int[] {0, 6, 10}, r.plan().boundaries());
        assertEquals(1 - 6.3 / 6.5, r.gain(), 1e-12);
    }

    @Test
    void aChangeNeedsTwoChecksInARowWithTheSameSlowestStage() {
        Confirmation c = new Confirmation();
        assertFalse(c.confirms(true, new double[] {250, 310}), "one window is not enough");
        assertTrue(c.pending());
        assertTrue(c.confirms(true, new double[] {240, 300}), "the next check agrees: stage 1 is the slowest again");
        assertFalse(c.pending());
        // A window with the other stage the slowest (noise, or a rank slow for a few seconds) starts over.
        assertFalse(c.confirms(true, new double[] {250, 310}));
        assertFalse(c.confirms(true, new double[] {320, 260}));
        assertTrue(c.pending());
        assertTrue(c.confirms(true, new double[] {330, 250}));
        // A check without a better plan in between starts over too.
        assertFalse(c.confirms(true, new double[] {250, 310}));
        assertFalse(c.confirms(false, new double[] {250, 260}));
        assertFalse(c.pending());
        assertFalse(c.confirms(true, new double[] {250, 310}));
        // Three stages: the slowest by index.
        Confirmation three = new Confirmation();
        assertFalse(three.confirms(true, new double[] {1, 3, 2}));
        assertTrue(three.confirms(true, new double[] {1, 4, 2}));
    }
}
