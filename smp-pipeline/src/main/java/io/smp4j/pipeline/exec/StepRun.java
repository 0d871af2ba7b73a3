package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import io.smp4j.comm.CommRequest;
import io.smp4j.pipeline.schedule.Action;
import java.util.ArrayList;
import java.util.List;

/**
 * One step of a {@link PipelineExecutor} while it runs: the rank's actions (in the order they run), whether it trains,
 * the microbatches in flight, the sends to wait for, and how a forward call is made. Made per step and handed to every
 * {@link StepPart}: the step's state is here, not in the executor.
 */
final class StepRun {
    /** Makes the call of a forward (the block to run, prepared by the parts). */
    interface Calls {
        StageCall make(Action a, InFlight f, NDManager scope, boolean recordsGraph);
    }

    private final RankStage stage;
    private final Calls calls;
    private final List<Action> order;
    private final boolean training;
    private final int microbatches;
    private final Flights flights;
    private final GradientCollector gradients;
    private final List<CommRequest> sends = new ArrayList<>();

    StepRun(RankStage stage, Calls calls, List<Action> order, boolean training, int microbatches, Flights flights,
            GradientCollector gradients) {
        this.stage = stage;
        this.calls = calls;
        this.order = order;
        this.training = training;
        this.microbatches = microbatches;
        this.flights = flights;
        this.gradients = gradients;
    }

    RankStage stage() {
        return stage;
    }

    /** The rank's actions of this step, in the order they run (a part may reorder those not run yet). */
    List<Action> order() {
        return order;
    }

    boolean training() {
        return training;
    }

    int microbatches() {
        return microbatches;
    }

    Flights flights() {
        return flights;
    }

    /** The step's gradient collector (null in evaluation). */
    GradientCollector gradients() {
        return gradients;
    }

    /** The requests of this step's sends: all complete before the step ends. */
    List<CommRequest> sends() {
        return sends;
    }

    /** A forward call for action {@code a} of {@code f}, its arrays in {@code scope}. */
    StageCall call(Action a, InFlight f, NDManager scope, boolean recordsGraph) {
        return calls.make(a, f, scope, recordsGraph);
    }
}
