package io.smp4j.pipeline.partition;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class PartitionerTest {
    /** The best maximum over every way of cutting n units into p non-empty contiguous stages. */
    private static double bruteForce(double[] c, int p, int from) {
        if (p == 1) {
            double s = 0;
            for (int i = from; i < c.length; i++) {
                s += c[i];
            }
            return s;
        }
        double best = Double.POSITIVE_INFINITY;
        double head = 0;
        for (int end = from + 1; end <= c.length - (p - 1); end++) {
            head += c[end - 1];
            best = Math.min(best, Math.max(head, bruteForce(c, p - 1, end)));
        }
        return best;
    }

    private static double maxStage(double[] c, int[] b) {
        double worst = 0;
        for (int s = 0; s + 1 < b.length; s++) {
            double t = 0;
            for (int i = b[s]; i < b[s + 1]; i++) {
                t += c[i];
            }
            worst = Math.max(worst, t);
        }
        return worst;
    }

    @Test
    void balanceIsExactlyOptimal() {
        Random rnd = new Random(7);
        for (int trial = 0; trial < 300; trial++) {
            int n = 1 + rnd.nextInt(12);
            int p = 1 + rnd.nextInt(n);
            double[] c = new double[n];
            for (int i = 0; i < n; i++) {
                c[i] = rnd.nextInt(4) == 0 ? rnd.nextDouble() * 20 : rnd.nextDouble();
            }
            int[] b = Partitioner.balance(c, p);
            assertEquals(p + 1, b.length);
            assertEquals(0, b[0]);
            assertEquals(n, b[p]);
            for (int s = 0; s < p; s++) {
                assertEquals(true, b[s] < b[s + 1], "empty stage");
            }
            assertEquals(bruteForce(c, p, 0), maxStage(c, b), 1e-12, "n=" + n + " p=" + p);
        }
    }

    @Test
    void memoryWeightChoosesBetweenTimeAndMemory() {
        // Unit 0 is slow but small, unit 3 is fast but huge.
        List<UnitCost> units = List.of(new UnitCost("a", 9, 1, 4, 0), new UnitCost("b", 1, 1, 4, 0),
                new UnitCost("c", 1, 1, 4, 0), new UnitCost("d", 1, 100, 400, 0));
        assertArrayEquals(new int[] {0, 1, 4}, Partitioner.auto(units, 2, 0.0).boundaries());
        assertArrayEquals(new int[] {0, 3, 4}, Partitioner.auto(units, 2, 1.0).boundaries());
    }

    @Test
    void manualPlacementAndDefaultPartition() {
        List<UnitCost> units = units(5);
        PartitionPlan plan = Partitioner.manual(units, 3, Map.of(2, 1, 3, 2, 4, 2), 0);
        assertArrayEquals(new int[] {0, 2, 3, 5}, plan.boundaries());
        assertEquals(2, plan.stageOf(4));
        assertEquals(plan, PartitionPlan.fromBytes(plan.toBytes()));
        PartitionPlan auto = Partitioner.auto(units, 2, 0.8);
        assertEquals(auto, PartitionPlan.fromBytes(auto.toBytes()));
    }

    @Test
    void clearErrors() {
        assertEquals("the model has 3 units but partitions is 4: every stage needs at least one unit; use at most 3 "
                        + "partitions or a model with more top-level blocks",
                assertThrows(IllegalArgumentException.class, () -> Partitioner.auto(units(3), 4, 0.5)).getMessage());
        assertEquals("unit 1 (u1) is assigned to stage 2, out of range: allowed 0..1",
                assertThrows(IllegalArgumentException.class,
                        () -> Partitioner.manual(units(3), 2, Map.of(1, 2), 0)).getMessage());
        assertEquals("stage 1 has no units under the manual placement; every one of the 2 stages needs at least one",
                assertThrows(IllegalArgumentException.class,
                        () -> Partitioner.manual(units(3), 2, Map.of(), 0)).getMessage());
        assertEquals("unit 2 (u2) is on stage 0 after unit 1 on stage 1: stages must follow the model's order",
                assertThrows(IllegalArgumentException.class,
                        () -> Partitioner.manual(units(3), 2, Map.of(1, 1), 0)).getMessage());
        assertEquals("default_partition 3 is out of range: allowed 0..1 for 2 partitions",
                assertThrows(IllegalArgumentException.class,
                        () -> Partitioner.manual(units(3), 2, Map.of(), 3)).getMessage());
        assertEquals("manual placement names unit 7, but the model has units 0..2",
                assertThrows(IllegalArgumentException.class,
                        () -> Partitioner.manual(units(3), 2, Map.of(7, 1), 0)).getMessage());
        assertEquals("memory_weight 1.5 is not in [0, 1]",
                assertThrows(IllegalArgumentException.class, () -> Partitioner.auto(units(3), 2, 1.5)).getMessage());
    }

    @Test
    void tableShowsStagesUnitsParametersAndShares() {
        PartitionPlan plan = Partitioner.manual(units(4), 2, Map.of(2, 1, 3, 1), 0);
        List<String> t = plan.table();
        assertEquals("partition plan (manual): 4 units in 2 stages", t.get(0));
        assertEquals("    0  0..1 (2)                            3       3.00  30.0%       0.00  30.0%", t.get(2));
        assertEquals("    1  2..3 (2)                            7       7.00  70.0%       0.00  70.0%", t.get(3));
        List<String> u = plan.unitLines();
        assertEquals(4, u.size());
        assertEquals("unit   1 stage 0    2.000 ms  20.0%           2 u1", u.get(1));
        assertEquals("unit   3 stage 1    4.000 ms  40.0%           4 u3", u.get(3));
    }

    private static List<UnitCost> units(int n) {
        List<UnitCost> u = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            u.add(new UnitCost("u" + i, i + 1, i + 1, 4L * (i + 1), 0));
        }
        return u;
    }

    /** Stage memory limits (a GPU's free memory) override the cost balance, and an impossible fit is refused. */
    @Test
    void memoryLimitsPerStage() {
        // Time says: a alone on stage 0 (9 of 12 ms). Memory: each unit 3 x 100 parameter bytes + 2 x 50 activation.
        List<UnitCost> units = List.of(new UnitCost("a", 9, 25, 100, 50), new UnitCost("b", 1, 25, 100, 50),
                new UnitCost("c", 1, 25, 100, 50), new UnitCost("d", 1, 25, 100, 50));
        assertEquals(400, Partitioner.stageBytes(units, 0, 1, 2));
        int[] free = Partitioner.auto(units, 2, 0.0, new long[] {10_000, 10_000}, 2).boundaries();
        org.junit.jupiter.api.Assertions.assertArrayEquals(new int[] {0, 1, 4}, free);
        // Stage 1 may hold only 2 units (800 bytes): b must move to stage 0.
        int[] tight = Partitioner.auto(units, 2, 0.0, new long[] {10_000, 800}, 2).boundaries();
        org.junit.jupiter.api.Assertions.assertArrayEquals(new int[] {0, 2, 4}, tight);
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Partitioner.auto(units, 2, 0.0, new long[] {500, 500}, 2));
        assertEquals("the model does not fit in 2 stages within the memory budget: stage 0 (units 0..1 of 4) needs "
                + "800 B (3 x 200 B of parameters for weights, gradients and optimizer state + 2 microbatches of "
                + "activations), its budget is 500 B (stage budgets [500 B, 500 B]; the whole model needs 1600 B); "
                + "use more partitions, fewer active_microbatches or smaller microbatches", e.getMessage());
    }
}
