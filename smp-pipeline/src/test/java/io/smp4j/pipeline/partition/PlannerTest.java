package io.smp4j.pipeline.partition;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import io.smp4j.comm.local.LocalCluster;
import io.smp4j.pipeline.model.Parameters;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/** Planning on rank 0, on the in-JVM cluster (only rank 0 touches DJL, so threads are fine). */
class PlannerTest {
    private static Block mlp(NDManager m) {
        Block b = new SequentialBlock().add(Linear.builder().setUnits(32).build()).add(Activation::relu)
                .add(Linear.builder().setUnits(4).build());
        b.initialize(m, DataType.FLOAT32, new Shape(4, 8));
        return b;
    }

    @Test
    void everyRankGetsRankZerosPlanAndProfilingLeavesTheModelUnchanged() {
        try (NDManager m = NDManager.newBaseManager()) {
            Block model = mlp(m);
            List<float[]> before = Parameters.snapshot(model);
            Map<Integer, PartitionPlan> plans = new ConcurrentHashMap<>();
            new LocalCluster(3, Duration.ofSeconds(60)).run(c -> plans.put(c.rank(),
                    Planner.plan(c, model, new NDList(m.randomNormal(new Shape(4, 8))),
                            Planner.Settings.manual(2, Map.of(2, 1), 0))));
            assertEquals(3, plans.size());
            assertEquals(plans.get(0), plans.get(1));
            assertEquals(plans.get(0), plans.get(2));
            assertArrayEquals(new int[] {0, 2, 3}, plans.get(0).boundaries());
            assertEquals(32 * 8 + 32, plans.get(0).units().get(0).parameters());
            assertEquals(4L * 4 * 32, plans.get(0).units().get(0).activationBytes());
            List<float[]> after = Parameters.snapshot(model);
            for (int i = 0; i < before.size(); i++) {
                assertArrayEquals(before.get(i), after.get(i));
            }
        }
    }

    @Test
    void aPlanningErrorReachesEveryRankWithTheSameMessage() {
        try (NDManager m = NDManager.newBaseManager()) {
            Block model = mlp(m);
            Map<Integer, String> errors = new ConcurrentHashMap<>();
            new LocalCluster(2, Duration.ofSeconds(60)).run(c -> {
                try {
                    Planner.plan(c, model, new NDList(m.randomNormal(new Shape(4, 8))),
                            Planner.Settings.auto(4, 0.2));
                } catch (IllegalArgumentException e) {
                    errors.put(c.rank(), e.getMessage());
                }
            });
            String expected = "the model has 3 units but partitions is 4: every stage needs at least one unit; use at "
                    + "most 3 partitions or a model with more top-level blocks";
            assertEquals(Map.of(0, expected, 1, expected), errors);
        }
    }
}
