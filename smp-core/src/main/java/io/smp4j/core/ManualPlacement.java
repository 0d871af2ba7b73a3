package io.smp4j.core;

import io.smp4j.core.stage.StageBuilder;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** A {@link DistributedModel}'s placement by hand, before its first step: units on stages, or a saved plan's cut. */
final class ManualPlacement {
    private final Map<Integer, Integer> stageOf = new HashMap<>();
    private boolean fixed;
    /** The units a fixed placement's indices refer to (null: the top-level ones). */
    private List<String> unitNames;
    /** Shared microbatch counts of a fixed placement, or null. */
    private int[] lent;

    void put(int unit, int stage) {
        stageOf.put(unit, stage);
    }

    /** Stage boundaries over {@code names} (null: the top-level units), for {@code stages} stages; checked here. */
    void byPlan(List<String> names, int[] boundaries, int[] lentCounts, int stages) {
        if (boundaries.length != stages + 1 || boundaries[0] != 0) {
            throw new IllegalArgumentException("stage boundaries " + Arrays.toString(boundaries) + " do not "
                    + "describe " + stages + " stages (need " + (stages + 1) + " unit indices starting at 0)");
        }
        for (int s = 0; s < stages; s++) {
            if (boundaries[s + 1] <= boundaries[s]) {
                throw new IllegalArgumentException("stage boundaries " + Arrays.toString(boundaries)
                        + " leave stage " + s + " empty");
            }
        }
        lent = lentCounts == null ? null : lentCounts.clone();
        unitNames = names == null ? null : List.copyOf(names);
        stageOf.clear();
        for (int s = 0; s < stages; s++) {
            for (int u = boundaries[s]; u < boundaries[s + 1]; u++) {
                stageOf.put(u, s);
            }
        }
        fixed = true;
    }

    StageBuilder.Placement toPlacement() {
        return new StageBuilder.Placement(stageOf, fixed, unitNames, lent);
    }
}
