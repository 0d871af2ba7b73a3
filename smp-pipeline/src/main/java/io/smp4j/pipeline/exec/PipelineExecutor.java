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
        NDArray output;
        NDArray upstreamGradient;
        /**
         * The loss scale as a tensor. NDArray.mul(Number) would make it from a Java value: a tensor over a direct
         * buffer that only a temporary Java object keeps alive, while autograd saves it for the backward. A garbage
         * collection between this microbatch's forward and backward then frees it and the gradients become garbage
         * (seen: NaN under load with the simple schedule). Holding it here until the backward prevents that.
         */
        NDArray lossScale;
    }

    /**
     * Zeroes this stage's gradients, then runs the schedule's actions for this stage.
     *
     * @param inputs    per microbatch, the model input (used on stage 0 only)
     * @param labels    per microbatch, the labels (used on the last stage only)
     * @param loss      (labels, output) -> scalar loss of one microbatch (last stage only)
     * @param lossScale factor on each microbatch's loss before backward
     * @return on the last stage, the unscaled loss of each microbatch; elsewhere an empty array
     */
    public StepResult trainStep(Schedule schedule, List<NDList> inputs, List<NDList> labels,
                                BiFunction<NDList, NDList, NDArray> loss, float lossScale) {
        int m = schedule.microbatches();
        Parameters.zeroGradients(stage);
        InFlight[] flight = new InFlight[m];
        float[] losses = new float[last() ? m : 0];
        List<CommRequest> sends = new ArrayList<>();
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
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
                            f.input = inputs.get(mb).head().duplicate();
                            f.input.attach(f.scope);
                        }
                        if (!first()) {
                            f.input.setRequiresGradient(true);
                        }
                        NDList out = stage.forward(parameterStore, new NDList(f.input), true);
                        out.attach(f.scope);
                        f.output = out.head();
                        if (last()) {
                            NDList lab = new NDList();
                            for (NDArray y : labels.get(mb)) {
                                lab.add(y.duplicate());
                            }
                            lab.attach(f.scope);
                            NDArray l = loss.apply(lab, out);
                            losses[mb] = l.getFloat();
                            f.lossScale = f.scope.create(lossScale);
                            f.output = l.mul(f.lossScale);
                        }
                    }
                    case SEND_ACTIVATION -> channel.send(flight[mb].output, stageIndex + 1, true, mb, sends);
                    case RECV_GRADIENT -> flight[mb].upstreamGradient =
                            channel.recv(flight[mb].scope, stageIndex + 1, false, mb);
                    case BACKWARD -> {
                        InFlight f = flight[mb];
                        gc.backward(last() ? f.output : f.output.mul(f.upstreamGradient).sum());
                    }
                    case SEND_GRADIENT -> {
                        InFlight f = flight[mb];
                        channel.send(f.input.getGradient(), stageIndex - 1, false, mb, sends);
                        // The gradient is copied out by send: this microbatch is finished here.
                    }
                    default -> throw new IllegalStateException("unknown action " + a);
                }
                if (a.type() == Action.Type.BACKWARD && first() || a.type() == Action.Type.SEND_GRADIENT) {
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
        return new StepResult(losses);
    }
}
