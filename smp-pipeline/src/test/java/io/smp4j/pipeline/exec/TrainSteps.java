package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.loss.Loss;
import io.smp4j.pipeline.djl.DjlInternals;
import io.smp4j.pipeline.model.NDLists;
import io.smp4j.pipeline.schedule.Schedule;
import java.util.List;

/** The executor driven directly, as the pipeline tests do (users go through smp-core's {@code @Step}). */
final class TrainSteps {
    private TrainSteps() {
    }

    /**
     * One training step: stage 0 forwards {@code inputs}, the last stage scores with {@code loss}, each microbatch's
     * loss scaled by {@code lossScale}. Returns the microbatch losses (on the last stage; empty elsewhere).
     */
    static float[] trainStep(PipelineExecutor exec, Schedule schedule, List<NDList> inputs, List<NDList> labels,
                             Loss loss, float lossScale) {
        float[] losses = new float[exec.holdsLastStage() ? schedule.microbatches() : 0];
        exec.run(schedule, call -> {
            int mb = call.microbatch();
            NDManager scope = call.scope();
            NDList x = call.received();
            if (x == null) {
                x = NDLists.copy(inputs.get(mb), scope);
            }
            NDList out = call.forward(x, true);
            out.attach(scope);
            if (!call.lastStage()) {
                return new StageForward.Result(out, null, x);
            }
            NDList lab = NDLists.copy(labels.get(mb), scope);
            NDArray l = loss.evaluate(lab, out);
            losses[mb] = l.getFloat();
            return new StageForward.Result(out, l.mul(DjlInternals.scalar(scope, lossScale)));
        });
        return losses;
    }
}
