package io.smp4j.pipeline.exec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import io.smp4j.comm.local.LocalCluster;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** A stage given an input it cannot take says which stage, which units and what it got. */
class StageErrorTest {
    @Test
    void aMismatchedInputNamesTheStage() {
        try (NDManager m = NDManager.newBaseManager()) {
            SequentialBlock stage = new SequentialBlock().add(Linear.builder().setUnits(3).build());
            stage.initialize(m, DataType.FLOAT32, new Shape(2, 5));
            PipelineExecutor exec = new PipelineExecutor(stage, 0, 1, new LocalCluster(1, Duration.ofSeconds(5))
                    .world(0), m, "units 4..6 (3)");
            NDList bad = new NDList(m.ones(new Shape(2, 7)));
            StageCall call = new StageCall(0, null, m, true, true, stage, new ParameterStore(m, false),
                    exec.describe(0));
            String msg = assertThrows(IllegalStateException.class, () -> call.forward(bad, true)).getMessage();
            assertTrue(msg.startsWith("stage 0 of 1 (units 4..6 (3)) cannot run on its input [float32 (2, 7)]: "), msg);
            assertEquals(new Shape(2, 3), call.forward(new NDList(m.ones(new Shape(2, 5))), false).head().getShape());
        }
    }
}
