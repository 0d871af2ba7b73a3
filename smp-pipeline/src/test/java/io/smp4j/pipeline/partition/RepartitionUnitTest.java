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
    void plansAreComparedByTheirEstimatedStepTime() {
        // 20 equal units, two stages of 10, measured: stage 1 slower by 10% (a unit there costs 11, here 10), forward
        // a third of each stage's time, stage 1's update 3x stage 0's (it holds 3x the parameters). Moving one unit
        // to stage 0 makes the stages 110 | 99: the slowest stage costs what it did, so min-max sees nothing to gain.
        // The step time also counts the fill, the drain and the updates: with stage 0 the slower, the last stage's
        // fill and drain overlap stage 0's backwards, and the step is shorter by about a microbatch.
        List<UnitCost> units = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            units.add(new UnitCost("u" + i, 1, i < 10 ? 10 : 30, 40, 100));
        }
        PartitionPlan p = new PartitionPlan(units, new int[] {0, 10, 20}, 0, "auto");
        Repartition.Measured m = new Repartition.Measured(new double[] {100, 110}, new double[] {33, 37},
                new double[] {2, 6});
        io.smp4j.pipeline.schedule.Schedule s = io.smp4j.pipeline.schedule.Schedules.of("interleaved", 2, 8, 4);
        assertNull(Repartition.propose(p, m.total(), 0.02, null, 4, 0), "min-max: no gain");
        Repartition.Proposal r = Repartition.byPeriod(p, m, s, 4, 0.02, null, 4);
        int cut = r.plan().boundaries()[1];
        assertEquals(11, cut);
        // Estimated: 8 x 13.75 + 12.5 + 2 = 124.5 before (stage 1 waits for stage 0's backward, update and forward
        // between steps); 8 x 13.75 + (12.375 - 9.17) + 2.2 = 115.4 after.
        assertEquals(124.5, r.currentCost(), 1e-6);
        assertTrue(r.newCost() < 116 && r.newCost() > 115, "estimated " + r.newCost());
        assertEquals("the estimated step time", r.what());
        // The proposal is the best of its neighbourhood, and once in force nothing better is proposed.
        PartitionPlan moved = new PartitionPlan(units, r.plan().boundaries(), 0, "auto");
        double[] total = {100.0 * cut / 10, 110.0 * (20 - cut) / 10};
        assertNull(Repartition.byPeriod(moved, new Repartition.Measured(total, new double[] {total[0] / 3,
                total[1] * 37 / 110}, new double[] {0.2 * cut, 0.6 * (20 - cut)}), s, 4, 0.02, null, 4));
    }

    @Test
    void aBoundaryMovesInsideAUnitWhereWholeUnitsCannotBalance() {
        // Three units 10 + 6 | 10 (profiled as measured), forward a third of each: whole units give stages of 16 and
        // 10, or 10 and 16 (worse: the schedule prefers the first stage the heavier); the middle unit lent for about
        // half of 8 microbatches gives about 13 and 13.
        List<UnitCost> units = new ArrayList<>();
        for (double t : new double[] {10, 6, 10}) {
            units.add(new UnitCost("u" + units.size(), t, 10, 40, 100));
        }
        PartitionPlan p = new PartitionPlan(units, new int[] {0, 2, 3}, 0, "auto");
        Repartition.Measured m = new Repartition.Measured(new double[] {16, 10}, new double[] {16 / 3.0, 10 / 3.0},
                new double[] {0.01, 0.02});
        io.smp4j.pipeline.schedule.Schedule s = io.smp4j.pipeline.schedule.Schedules.of("interleaved", 2, 8, 4);
        assertNull(Repartition.byPeriod(p, m, s, 4, 0.02, null, 4), "whole units only: nothing better");
        boolean[] shareable = {true, true, true};
        Repartition.Proposal r = Repartition.byPeriod(p, m, s, 4, 0.02, null, 4, shareable);
        // Unit 1 still ends stage 0 and runs on stage 1 for the first k microbatches.
        assertArrayEquals(new int[] {0, 2, 3}, r.plan().boundaries());
        int k = r.plan().lent()[1];
        assertTrue(k >= 3 && k <= 5, "lent for " + k);
        assertEquals(16 - 6.0 * k / 8, r.plan().stageTimeMillis(0, 8), 1e-12);
        assertEquals(10 + 6.0 * k / 8, r.plan().stageTimeMillis(1, 8), 1e-12);
        assertTrue(r.gain() > 0.1, "gain " + r.gain());
        // Once in force, measured as estimated: kept.
        double[] now = {r.plan().stageTimeMillis(0, 8), r.plan().stageTimeMillis(1, 8)};
        assertNull(Repartition.byPeriod(r.plan(), new Repartition.Measured(now, new double[] {now[0] / 3,
                now[1] / 3}, new double[] {0.01, 0.02}), s, 4, 0.02, null, 4, shareable));
        // A unit that cannot be lent (running statistics) keeps the boundary on whole units; limits do too.
        assertNull(Repartition.byPeriod(p, m, s, 4, 0.02, null, 4, new boolean[] {true, false, true}));
        assertNull(Repartition.byPeriod(p, m, s, 4, 0.02, new long[] {Long.MAX_VALUE, Long.MAX_VALUE}, 4,
                shareable));
        // At most M - 2 microbatches: with M = 2 there is no room.
        assertNull(Repartition.byPeriod(p, m, io.smp4j.pipeline.schedule.Schedules.of("interleaved", 2, 2, 4), 4,
                0.02, null, 4, shareable));
    }

    @Test
    void sharedUnitsInPlans() {
        List<UnitCost> units = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            units.add(new UnitCost("u" + i, 1 + i, 10, 40, 100));
        }
        PartitionPlan p = new PartitionPlan(units, new int[] {0, 2, 4}, 0, "auto", new int[] {0, 3, 0});
        assertTrue(p.lendsUnits());
        assertEquals(0, p.lentIn(0));
        assertEquals(3, p.lentOut(0));
        assertEquals(3, p.lentIn(1));
        // Unit 1 (2 ms) runs on stage 1 for 3 of 8 microbatches.
        assertEquals(3 - 2 * 3 / 8.0, p.stageTimeMillis(0, 8), 1e-12);
        assertEquals(7 + 2 * 3 / 8.0, p.stageTimeMillis(1, 8), 1e-12);
        assertEquals(p, PartitionPlan.fromBytes(p.toBytes()));
        assertFalse(p.equals(p.withLent(null)));
        assertTrue(p.table().stream().anyMatch(l -> l.contains("unit 1 u1 is lent: microbatches 0..2")),
                String.join("\n", p.table()));
        // Clear errors: a stage left without a unit of its own, negative counts, counts that do not fit.
        IllegalArgumentException only = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new PartitionPlan(units, new int[] {0, 1, 4}, 0, "auto", new int[] {0, 2, 0}));
        assertTrue(only.getMessage().contains("only unit"), only.getMessage());
        assertThrows(() -> new PartitionPlan(units, new int[] {0, 2, 4}, 0, "auto", new int[] {0, -1, 0}));
        assertThrows(() -> new PartitionPlan(units, new int[] {0, 2, 4}, 0, "auto", new int[] {0, 1}));
        assertThrows(() -> new PartitionPlan(units, new int[] {0, 2, 4}, 0, "auto", new int[] {1, 1, 0}));
    }

    private static void assertThrows(org.junit.jupiter.api.function.Executable e) {
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, e);
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
