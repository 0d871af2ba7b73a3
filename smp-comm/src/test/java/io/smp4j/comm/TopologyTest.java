package io.smp4j.comm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class TopologyTest {
    @Test
    void sageMakerClusterExample() {
        Topology t = new Topology(8, 2, "cluster");
        assertArrayEquals(new int[] {0, 1}, t.pipelineGroup(0));
        assertArrayEquals(new int[] {2, 3}, t.pipelineGroup(3));
        assertArrayEquals(new int[] {6, 7}, t.pipelineGroup(6));
        assertArrayEquals(new int[] {0, 2, 4, 6}, t.dataParallelGroup(4));
        assertArrayEquals(new int[] {1, 3, 5, 7}, t.dataParallelGroup(1));
        assertEquals("DP", t.letters());
    }

    @Test
    void sageMakerSpreadExample() {
        Topology t = new Topology(8, 2, "spread");
        assertArrayEquals(new int[] {0, 4}, t.pipelineGroup(0));
        assertArrayEquals(new int[] {1, 5}, t.pipelineGroup(5));
        assertArrayEquals(new int[] {3, 7}, t.pipelineGroup(3));
        assertArrayEquals(new int[] {0, 1, 2, 3}, t.dataParallelGroup(2));
        assertArrayEquals(new int[] {4, 5, 6, 7}, t.dataParallelGroup(6));
        assertEquals("PD", t.letters());
    }

    @Test
    void lettersAreEquivalentToWords() {
        for (String[] pair : new String[][] {{"cluster", "DP"}, {"spread", "PD"}, {"cluster", "DPT"},
                {"spread", "TPD"}, {"CLUSTER", "dp"}}) {
            Topology a = new Topology(12, 3, pair[0]);
            Topology b = new Topology(12, 3, pair[1]);
            for (int r = 0; r < 12; r++) {
                assertEquals(a.ppRank(r), b.ppRank(r));
                assertEquals(a.dpRank(r), b.dpRank(r));
            }
        }
    }

    /** Every (W, P, strategy) up to W = 32: a bijection, consistent groups, and the layout the letters promise. */
    @Test
    void exhaustiveSmallWorlds() {
        for (int w = 1; w <= 32; w++) {
            for (int p = 1; p <= w; p++) {
                if (w % p != 0) {
                    continue;
                }
                for (String s : new String[] {"DP", "PD"}) {
                    Topology t = new Topology(w, p, s);
                    int d = w / p;
                    assertEquals(d, t.dpSize());
                    Set<Integer> seen = new HashSet<>();
                    for (int r = 0; r < w; r++) {
                        int pp = t.ppRank(r);
                        int dp = t.dpRank(r);
                        assertEquals(r, t.rank(pp, dp), "round trip of rank " + r + " in " + t);
                        seen.add(pp * d + dp);
                        // The letter promise: right-most letter varies fastest.
                        int expected = s.equals("DP") ? dp * p + pp : pp * d + dp;
                        assertEquals(expected, r, t + " rank " + r);
                        int[] pg = t.pipelineGroup(r);
                        int[] dg = t.dataParallelGroup(r);
                        assertEquals(p, pg.length);
                        assertEquals(d, dg.length);
                        assertEquals(r, pg[pp], "a rank sits at its own pipeline rank in its pipeline group");
                        assertEquals(r, dg[dp], "a rank sits at its own data-parallel rank in its dp group");
                        for (int q : pg) {
                            assertEquals(dp, t.dpRank(q), "pipeline group mixes replicas");
                        }
                        for (int q : dg) {
                            assertEquals(pp, t.ppRank(q), "data-parallel group mixes stages");
                        }
                    }
                    assertEquals(w, seen.size(), "not a bijection: " + t);
                }
            }
        }
    }

    @Test
    void clearErrors() {
        assertEquals("world size 6 is not a multiple of partitions 4: every model replica needs exactly 4 ranks; "
                        + "start a multiple of 4 processes or change partitions",
                assertThrows(IllegalArgumentException.class, () -> new Topology(6, 4, "cluster")).getMessage());
        assertEquals("partitions must be >= 1, got 0",
                assertThrows(IllegalArgumentException.class, () -> new Topology(4, 0, "cluster")).getMessage());
        assertEquals("placement_strategy 'DD' is not valid; allowed: cluster, spread, or a permutation of the "
                        + "letters D and P (optionally T), e.g. DP, PD, DPT",
                assertThrows(IllegalArgumentException.class, () -> new Topology(4, 2, "DD")).getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Topology(4, 2, "sprd"));
        assertEquals("rank 4 is not in a world of 4",
                assertThrows(IllegalArgumentException.class, () -> new Topology(4, 2, "DP").ppRank(4)).getMessage());
    }
}
