package io.smp4j.comm;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The rank grid of one job: world rank <-> (pipeline rank, data-parallel rank), as SageMaker smp lays it out.
 *
 * <p>World size W, partitions P (pipeline stages of one model replica), data-parallel degree D = W / P. The
 * placement strategy is a word or letters: {@code cluster} = {@code DP} (the P stages of one replica on
 * consecutive ranks), {@code spread} = {@code PD} (the D replicas of one stage on consecutive ranks). In the
 * letter form the right-most letter varies fastest over consecutive ranks; {@code T} (tensor parallel, degree 1
 * here) may appear and changes nothing.
 *
 * <pre>{@code
 * Topology t = new Topology(8, 2, "cluster");
 * t.pipelineGroup(5);      // [4, 5]   the ranks holding rank 5's model replica, by stage
 * t.dataParallelGroup(5);  // [1, 3, 5, 7]   the ranks holding rank 5's stage, by replica
 * }</pre>
 */
public final class Topology {
    private final int worldSize;
    private final int partitions;
    private final int dpSize;
    private final String letters;
    /** Stride of each dimension in world-rank space. */
    private final int ppStride;
    private final int dpStride;

    public Topology(int worldSize, int partitions, String placementStrategy) {
        if (worldSize < 1) {
            throw new IllegalArgumentException("world size must be >= 1, got " + worldSize);
        }
        if (partitions < 1) {
            throw new IllegalArgumentException("partitions must be >= 1, got " + partitions);
        }
        if (worldSize % partitions != 0) {
            throw new IllegalArgumentException("world size " + worldSize + " is not a multiple of partitions "
                    + partitions + ": every model replica needs exactly " + partitions
                    + " ranks; start a multiple of " + partitions + " processes or change partitions");
        }
        this.worldSize = worldSize;
        this.partitions = partitions;
        this.dpSize = worldSize / partitions;
        this.letters = letters(placementStrategy);
        int stride = 1;
        int pp = 0;
        int dp = 0;
        for (int i = letters.length() - 1; i >= 0; i--) {
            char c = letters.charAt(i);
            if (c == 'P') {
                pp = stride;
                stride *= partitions;
            } else if (c == 'D') {
                dp = stride;
                stride *= dpSize;
            } // T: degree 1, stride unchanged
        }
        this.ppStride = pp;
        this.dpStride = dp;
    }

    /** Normalises a placement strategy to its letters ({@code cluster} -> {@code DP}, {@code spread} -> {@code PD}). */
    public static String letters(String placementStrategy) {
        if (placementStrategy == null) {
            throw new IllegalArgumentException("placement_strategy is null; allowed: cluster, spread, or letters "
                    + "such as DP, PD, DPT, TPD");
        }
        String s = placementStrategy.trim();
        if (s.equalsIgnoreCase("cluster")) {
            return "DP";
        }
        if (s.equalsIgnoreCase("spread")) {
            return "PD";
        }
        String up = s.toUpperCase(Locale.ROOT);
        boolean ok = up.length() >= 2 && up.length() <= 3 && up.chars().allMatch(ch -> "DPT".indexOf(ch) >= 0)
                && up.chars().distinct().count() == up.length() && up.contains("D") && up.contains("P");
        if (!ok) {
            throw new IllegalArgumentException("placement_strategy '" + placementStrategy + "' is not valid; allowed: "
                    + "cluster, spread, or a permutation of the letters D and P (optionally T), e.g. DP, PD, DPT");
        }
        return up;
    }

    public int worldSize() {
        return worldSize;
    }

    /** P: pipeline stages per replica. */
    public int ppSize() {
        return partitions;
    }

    /** D = W / P: model replicas. */
    public int dpSize() {
        return dpSize;
    }

    /** The strategy as letters, e.g. {@code DP}. */
    public String letters() {
        return letters;
    }

    private void checkRank(int rank) {
        if (rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank " + rank + " is not in a world of " + worldSize);
        }
    }

    /** Pipeline rank (stage index) of a world rank. */
    public int ppRank(int rank) {
        checkRank(rank);
        return (rank / ppStride) % partitions;
    }

    /** Data-parallel rank (replica index) of a world rank. */
    public int dpRank(int rank) {
        checkRank(rank);
        return (rank / dpStride) % dpSize;
    }

    /** World rank holding stage {@code ppRank} of replica {@code dpRank}. */
    public int rank(int ppRank, int dpRank) {
        if (ppRank < 0 || ppRank >= partitions || dpRank < 0 || dpRank >= dpSize) {
            throw new IllegalArgumentException("(pipeline rank " + ppRank + ", data-parallel rank " + dpRank
                    + ") is outside " + partitions + " x " + dpSize);
        }
        return ppRank * ppStride + dpRank * dpStride;
    }

    /** The ranks of {@code rank}'s model replica, indexed by pipeline rank. */
    public int[] pipelineGroup(int rank) {
        int d = dpRank(rank);
        int[] g = new int[partitions];
        for (int p = 0; p < partitions; p++) {
            g[p] = rank(p, d);
        }
        return g;
    }

    /** The ranks holding {@code rank}'s stage, indexed by data-parallel rank. */
    public int[] dataParallelGroup(int rank) {
        int p = ppRank(rank);
        int[] g = new int[dpSize];
        for (int d = 0; d < dpSize; d++) {
            g[d] = rank(p, d);
        }
        return g;
    }

    /** One line per rank: {@code rank 3 -> stage 1, replica 1}. */
    public List<String> describe() {
        List<String> lines = new ArrayList<>();
        lines.add(String.format("layout: world %d = %d stage%s x %d replica%s, placement %s", worldSize, partitions,
                partitions == 1 ? "" : "s", dpSize, dpSize == 1 ? "" : "s", letters));
        for (int r = 0; r < worldSize; r++) {
            lines.add(String.format("  rank %d -> stage %d, replica %d", r, ppRank(r), dpRank(r)));
        }
        return lines;
    }

    @Override
    public String toString() {
        return "Topology[W=" + worldSize + ", P=" + partitions + ", D=" + dpSize + ", " + letters + "]";
    }
}
