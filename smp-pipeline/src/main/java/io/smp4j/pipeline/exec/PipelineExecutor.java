package io.smp4j.pipeline.exec;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import io.smp4j.comm.CommRequest;
import io.smp4j.comm.Communicator;
import io.smp4j.pipeline.model.Parameters;
import io.smp4j.pipeline.schedule.Action;
import io.smp4j.pipeline.schedule.Schedule;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.BiFunction;

/**
 * Runs one pipeline rank's part of a training step: walks its action list from the {@link Schedule}, forwarding
 * its stage with autograd, sending activations to the next stage and input gradients to the previous one, and
 * running backward with the gradient received from the next stage. Parameter gradients accumulate over the
 * microbatches exactly as one unsplit backward per microbatch would; the loss of each microbatch is scaled by
 * {@code lossScale} (1/M averages the gradients over microbatches, as SageMaker's default).
 *
 * <p>Each microbatch lives in its own {@link NDManager} scope, closed as soon as its backward is done.
 *
 * <pre>{@code
 * PipelineExecutor exec = new PipelineExecutor(stageBlock, ppRank, ppSize, pipelineGroup, manager);
 * StepResult r = exec.trainStep(schedule, inputs, labels, (label, out) -> loss.evaluate(label, out), 1f / m);
 * }</pre>
 */
public final class PipelineExecutor {
    private final Block stage;
    private final int stageIndex;
    private final int stages;
    private final TensorChannel channel;
    private final NDManager manager;
    private final ParameterStore parameterStore;
    /** Optional observer of every action (the timeline trace hooks in here). */
    private ActionListener listener = (a, startNanos, endNanos) -> { };

    /** Observer of executed actions. */
    @FunctionalInterface
    public interface ActionListener {
        void executed(Action action, long startNanos, long endNanos);
    }

    /** What one step produced on this rank. */
    public record StepResult(float[] losses) {
    }

    public PipelineExecutor(Block stage, int stageIndex, int stages, Communicator pipelineGroup, NDManager manager) {
        if (pipelineGroup.size() != stages) {
            throw new IllegalArgumentException("the pipeline group has " + pipelineGroup.size() + " ranks for "
                    + stages + " stages");
        }
        this.stage = stage;
        this.stageIndex = stageIndex;
        this.stages = stages;
        this.channel = new TensorChannel(pipelineGroup);
        this.manager = manager;
        this.parameterStore = new ParameterStore(manager, false);
    }

    public void setListener(ActionListener listener) {
        this.listener = Objects.requireNonNull(listener);
    }

    private boolean first() {
        return stageIndex == 0;
    }

    private boolean last() {
        return stageIndex == stages - 1;
    }

    /** One microbatch's live state between its forward and its backward. */
    private static final class InFlight {
        NDManager scope;
        NDArray input;
        /** Holds output, backward target and the arrays autograd needs (see {@link Forward.Result#keepAlive}). */
        Forward.Result result;
        NDArray upstreamGradient;
    }

    /**
     * One microbatch's forward on this stage, supplied by the caller: run the stage on {@code input} (the received
     * activation, or null on stage 0 where the caller has the data) and say what to send on and what to
     * backpropagate.
     */
    @FunctionalInterface
    public interface Forward {
        /**
         * @param microbatch the microbatch index
         * @param input      the stage input (requires gradient), or null on stage 0
         * @param scope      where this microbatch's arrays live until its backward is done
         */
        Result forward(int microbatch, NDArray input, NDManager scope);

        /**
         * @param output         the stage output (sent to the next stage unless this is the last)
         * @param backwardTarget on the last stage, the scalar to backpropagate (already scaled); else null
         * @param keepAlive      arrays autograd needs until the backward that only this result references
         */
        record Result(NDArray output, NDArray backwardTarget, List<NDArray> keepAlive) {
        }
    }

    /** Convenience: stage 0 forwards {@code inputs}, the last stage scores with {@code loss} scaled by lossScale. */
    public StepResult trainStep(Schedule schedule, List<NDList> inputs, List<NDList> labels,
                                BiFunction<NDList, NDList, NDArray> loss, float lossScale) {
        float[] losses = new float[last() ? schedule.microbatches() : 0];
        run(schedule, (mb, input, scope) -> {
            NDArray x = input;
            if (x == null) {
                x = inputs.get(mb).head().duplicate();
                x.attach(scope);
            }
            NDList out = stage.forward(parameterStore, new NDList(x), true);
            out.attach(scope);
            if (!last()) {
                return new Forward.Result(out.head(), null, List.of());
            }
            NDList lab = new NDList();
            for (NDArray y : labels.get(mb)) {
                lab.add(y.duplicate());
            }
            lab.attach(scope);
            NDArray l = loss.apply(lab, out);
            losses[mb] = l.getFloat();
            // NDArray.mul(Number) would make the scalar over a direct buffer that only a temporary Java object keeps
            // alive, while autograd saves it for the backward: a GC in between would free it (seen: NaN gradients).
            NDArray scale = scope.create(lossScale);
            return new Forward.Result(out.head(), l.mul(scale), List.of(scale));
        });
        return new StepResult(losses);
    }

    /** Runs the stage forward on {@code input} (training: batch statistics, autograd); for {@link Forward}s. */
    public NDList forwardStage(NDArray input, boolean training) {
        return stage.forward(parameterStore, new NDList(input), training);
    }

    public boolean isFirstStage() {
        return first();
    }

    public boolean isLastStage() {
        return last();
    }

    /**
     * Zeroes this stage's gradients, then runs the schedule's actions for this stage, calling {@code forward} at each
     * forward action. A schedule without backward actions (evaluation) runs forwards only.
     */
    public void run(Schedule schedule, Forward forward) {
        int m = schedule.microbatches();
        Parameters.zeroGradients(stage);
        InFlight[] flight = new InFlight[m];
        List<CommRequest> sends = new ArrayList<>();
        boolean training = schedule.forStage(stageIndex).stream().anyMatch(a -> a.type() == Action.Type.BACKWARD);
        try (GradientCollector gc = training ? Engine.getInstance().newGradientCollector() : null) {
            for (Action a : schedule.forStage(stageIndex)) {
                long t0 = System.nanoTime();
                int mb = a.microbatch();
                switch (a.type()) {
                    case RECV_ACTIVATION -> {
                        InFlight f = flight[mb] = new InFlight();
                        f.scope = manager.newSubManager();
                        f.input = channel.recv(f.scope, stageIndex - 1, true, mb);
                    }
                    case FORWARD -> {
                        InFlight f = flight[mb];
                        if (f == null) {
                            f = flight[mb] = new InFlight();
                            f.scope = manager.newSubManager();
                        }
                        if (f.input != null && training) {
                            f.input.setRequiresGradient(true);
                        }
                        f.result = forward.forward(mb, f.input, f.scope);
                        if (last() && training && f.result.backwardTarget() == null) {
                            throw new IllegalStateException("microbatch " + mb + " produced no loss to backpropagate "
                                    + "on the last stage (call model.backward(loss) in the step)");
                        }
                    }
                    case SEND_ACTIVATION -> channel.send(flight[mb].result.output(), stageIndex + 1, true, mb, sends);
                    case RECV_GRADIENT -> flight[mb].upstreamGradient =
                            channel.recv(flight[mb].scope, stageIndex + 1, false, mb);
                    case BACKWARD -> {
                        InFlight f = flight[mb];
                        gc.backward(last() ? f.result.backwardTarget()
                                : f.result.output().mul(f.upstreamGradient).sum());
                    }
                    case SEND_GRADIENT -> channel.send(flight[mb].input.getGradient(), stageIndex - 1, false, mb,
                            sends);
                    default -> throw new IllegalStateException("unknown action " + a);
                }
                if (done(a, training)) {
                    flight[mb].scope.close();
                    flight[mb] = null;
                }
                listener.executed(a, t0, System.nanoTime());
            }
        } finally {
            for (InFlight f : flight) {
                if (f != null) {
                    f.scope.close();
                }
            }
        }
        CommRequest.awaitAll(sends);
    }

    /** The last action of a microbatch on this stage, after which its arrays can go. */
    private boolean done(Action a, boolean training) {
        if (!training) {
            return last() ? a.type() == Action.Type.FORWARD : a.type() == Action.Type.SEND_ACTIVATION;
        }
        return first() ? a.type() == Action.Type.BACKWARD : a.type() == Action.Type.SEND_GRADIENT;
    }
}
