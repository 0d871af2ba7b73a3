package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import io.smp4j.comm.CommRequest;
import io.smp4j.pipeline.schedule.Action;
import java.util.ArrayList;
import java.util.List;

/**
 * One step of a {@link PipelineExecutor} while it runs: the rank's actions (in the order they run), whether it trains,
 * the microbatches in flight, the sends to wait for, and the chains through the {@link StepPart parts} that a forward
 * and a backward pass. Made per step and handed to every part: the step's state is here, not in the executor.
 */
final class StepRun {
    private final PipelineExecutor stage;
    private final List<StepPart> parts;
    private final List<Action> order;
    private final boolean training;
    private final int microbatches;
    private final Flights flights;
    private final GradientCollector gradients;
    private final List<CommRequest> sends = new ArrayList<>();

    StepRun(PipelineExecutor stage, List<StepPart> parts, List<Action> order, boolean training,
            int microbatches, Flights flights, GradientCollector gradients) {
        this.stage = stage;
        this.parts = parts;
        this.order = order;
        this.training = training;
        this.microbatches = microbatches;
        this.flights = flights;
        this.gradients = gradients;
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

    GradientCollector gradients() {
        return gradients;
    }

    /** The requests of this step's sends: all complete before the step ends. */
    List<CommRequest> sends() {
        return sends;
    }

    PipelineExecutor stage() {
        return stage;
    }

    /** The block microbatch {@code mb} of chunk {@code c} runs. */
    Block block(int c, int mb) {
        Block b = stage.chunks().get(c);
        for (StepPart p : parts) {
            b = p.block(c, mb, b);
        }
        return b;
    }

    /** A forward call for action {@code a} of {@code f}, its arrays in {@code scope}. */
    StageCall call(Action a, InFlight f, NDManager scope, boolean recordsGraph) {
        int c = a.chunk();
        StageCall call = new StageCall(a.microbatch(), f.input, scope, stage.first(c), stage.last(c),
                block(c, a.microbatch()), stage.store(), stage.describe(c));
        for (StepPart p : parts) {
            p.prepare(this, call, a, f, recordsGraph);
        }
        return call;
    }

    /** Runs forward action {@code a}: through the parts, then {@code body}. */
    StageForward.Result forward(Action a, InFlight f, StageForward body) {
        return forward(0, a, f, body, true, f.scope);
    }

    private StageForward.Result forward(int k, Action a, InFlight f, StageForward body, boolean records,
                                        NDManager scope) {
        if (k == parts.size()) {
            return body.forward(call(a, f, scope, records));
        }
        return parts.get(k).forward(this, a, f, records, scope, (r, s) -> forward(k + 1, a, f, body, r, s));
    }

    /** Runs backward action {@code a}: through the parts, then backpropagates its target. */
    void backward(Action a, InFlight f) {
        backward(0, a, f);
    }

    private void backward(int k, Action a, InFlight f) {
        if (k < parts.size()) {
            parts.get(k).backward(this, a, f, () -> backward(k + 1, a, f));
            return;
        }
        int c = a.chunk();
        NDArray target = stage.last(c) ? f.result.backwardTarget()
                : StageGradients.backwardTarget(f, a.microbatch(), stage.describe(c));
        for (StepPart p : parts) {
            if (p.backpropagate(this, a, f, target)) {
                return;
            }
        }
        gradients.backward(target);
    }

    /** Where the executor's parameters are read during this step. */
    ParameterStore store() {
        return stage.store();
    }
}
