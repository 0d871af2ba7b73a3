package io.smp4j.pipeline.exec;

import ai.djl.engine.Engine;
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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one pipeline rank's part of a step: walks its action list from the {@link Schedule}, forwarding its stage with
 * autograd, sending activations to the next stage and input gradients to the previous one, and running backward with
 * the gradients received from the next stage. What crosses a stage boundary is a list of arrays (a model may pass
 * several, of any data type; only floating-point ones carry gradients back). Parameter gradients accumulate over the
 * microbatches exactly as one unsplit backward per microbatch would.
 *
 * <p>Each microbatch lives in its own {@link NDManager} scope, closed as soon as its last action on this stage ran.
 * The step body gets everything it needs of the executor in a {@link StageCall} (the microbatch, what arrived, its
 * scope, the stage to run).
 *
 * <p>The settings that shape a step (run-ahead, observing, activation checkpointing, backward in segments, lent
 * units) are {@link StepPart parts}: the run loop calls each active part at fixed points of a step and knows nothing
 * of what it does ({@link RunAheadPart}, {@link ObservingPart}, {@link ActivationCheckpointing}, {@link
 * SegmentedBackward}, {@link LentBoundaryPart}).
 *
 * <pre>{@code
 * PipelineExecutor exec = new PipelineExecutor(stageBlock, ppRank, ppSize, pipelineGroup, manager, "units 0..3");
 * exec.run(schedule, call -> {
 *     NDList out = call.forward(input, true);
 *     ... return new StageForward.Result(out, loss);
 * });
 * }</pre>
 */
public final class PipelineExecutor {
    private final RankStage stage;
    private static final Logger LOG = LoggerFactory.getLogger(PipelineExecutor.class);
    /** Whether every gradient of the stage is known to be zero (else a step zeroes them first). */
    private boolean gradientsZero;
    private final ComputeClock clock;
    private ObservingPart observing;
    private RunAheadPart runAhead;
    private ActivationCheckpointing checkpointing;
    private SegmentedBackward segmented;
    private LentBoundaryPart lent;

    /** @param description the stage in error messages, e.g. {@code units 4..12 (9)} */
    public PipelineExecutor(Block stage, int stageIndex, int stages, Communicator pipelineGroup, NDManager manager,
                            String description) {
        this(List.of(stage), stageIndex, stages, pipelineGroup, manager, description);
    }

    /**
     * With virtual stages: {@code chunks.get(c)} is this rank's chunk c, global stage {@code c * stages + stageIndex}
     * of {@code stages * chunks.size()}.
     */
    public PipelineExecutor(List<Block> chunks, int stageIndex, int stages, Communicator pipelineGroup,
                            NDManager manager, String description) {
        if (pipelineGroup.size() != stages || pipelineGroup.rank() != stageIndex) {
            throw new IllegalArgumentException("stage " + stageIndex + " of " + stages + " on rank "
                    + pipelineGroup.rank() + " of a pipeline group of " + pipelineGroup.size() + " (rank = stage)");
        }
        this.clock = new ComputeClock(chunks.size());
        this.stage = new RankStage(chunks, stageIndex, stages, description, new StageLink(pipelineGroup), manager);
        this.observing = new ObservingPart((a, t0, t1) -> { }, DeviceClock.synchronizing(() -> { }), clock);
    }

    /**
     * Where the stage's blocks read their parameters (default: the parameters' own arrays). Half precision gives one
     * that hands out half-precision copies of the fp32 masters.
     */
    public void setParameterStore(ParameterStore store) {
        stage.setStore(Objects.requireNonNull(store));
    }

    /**
     * The stage's parameters were given new arrays ({@code DjlInternals.replaceArray}): DJL's default parameter store
     * keeps the array it first handed out per parameter, so it is replaced by a fresh one. A store set by {@link
     * #setParameterStore} is the setter's to keep current.
     */
    public void parameterArraysReplaced() {
        if (stage.store().getClass() == ParameterStore.class) {
            stage.setStore(new ParameterStore(stage.manager(), false));
        }
    }

    /**
     * Observes every action; while it is active, and while the compute clock measures, each action is timed between
     * two of {@code marks} (on a GPU: marks queued with the kernels, read at the step's end).
     */
    public void setListener(ActionListener listener, DeviceClock marks) {
        observing = new ObservingPart(Objects.requireNonNull(listener), Objects.requireNonNull(marks), clock);
    }

    /**
     * This stage's gradients are all zero now (an update that zeroes them, {@link
     * io.smp4j.pipeline.djl.DjlInternals#updateZeroesGradients}; call only right after one): the next step need not.
     */
    public void gradientsZeroed() {
        gradientsZero = true;
    }

    /**
     * Activation checkpointing (SageMaker's {@code smp.set_activation_checkpointing}, per stage): while training, a
     * stage other than the last runs each microbatch's forward without recording a graph and keeps only the stage's
     * input and output; its backward first recomputes the forward (restoring what that does to batch-norm running
     * statistics), then backpropagates: gradients equal to keeping every activation. The last stage keeps its
     * activations (its forward produced the loss that its backward needs).
     */
    public void setActivationCheckpointing(boolean on) {
        checkpointing = on ? new ActivationCheckpointing() : null;
        if (on) {
            LOG.info("stage {}: activation checkpointing{}", stage.index(), stage.chunks().size() == 1 && stage.last(0)
                    ? " not applied (the last stage keeps its activations)"
                    : ": forwards keep only their input and output, backward recomputes (not on the last stage)");
        }
    }

    /**
     * {@link io.smp4j.pipeline.schedule.RunAhead Run-ahead} within {@code activeMicrobatches} in training steps
     * (bitwise the schedule's results); 0, the default, keeps the schedule's order. Not over a {@link DeviceLink}: it
     * cannot probe for a late gradient.
     */
    public void setRunAhead(int activeMicrobatches) {
        if (activeMicrobatches < 0) {
            throw new IllegalArgumentException("run-ahead needs active_microbatches >= 0, got " + activeMicrobatches);
        }
        runAhead = activeMicrobatches == 0 ? null : new RunAheadPart(activeMicrobatches);
    }

    /**
     * Lent boundary units ({@link LentBoundary}; one chunk per rank, schedules whose backwards run in microbatch
     * order); null for none.
     */
    public void setLentBoundary(LentBoundary boundary) {
        if (boundary != null && stage.chunks().size() != 1) {
            throw new IllegalArgumentException("lent boundary units need one chunk per rank, this rank has "
                    + stage.chunks().size());
        }
        lent = boundary == null || (boundary.in() == 0 && boundary.out() == 0) ? null
                : new LentBoundaryPart(boundary, clock);
    }

    /** Tells {@code hook} which parameters' gradients are final during backward ({@link SegmentedBackward}). */
    public void setGradientsReady(GradientsReady hook) {
        segmented = hook == null ? null : new SegmentedBackward(stage.chunks(), hook);
    }

    /** The per-chunk forward + backward time of training steps, while measuring (for re-partitioning). */
    public ComputeClock computeClock() {
        return clock;
    }

    /** Sends and receives through {@code link} for the neighbours it reaches (see {@link DeviceLink}). */
    public void setDeviceLink(DeviceLink link) {
        stage.link().setDeviceLink(link);
    }

    /** How messages to peers without a device link cross between the device and host memory (default: DJL's copies). */
    public void setHostStaging(HostStaging staging) {
        stage.link().setHostStaging(staging);
    }

    /** Whether this rank holds the model's last stage (as its last chunk). */
    public boolean holdsLastStage() {
        return stage.last(stage.chunks().size() - 1);
    }

    /** Chunk {@code chunk} in error messages: {@code stage 3 of 4 (units 4..12 (9))}. */
    String describe(int chunk) {
        return stage.describe(chunk);
    }

    /** The active parts, in the order the run loop calls them. */
    private List<StepPart> parts() {
        List<StepPart> parts = new ArrayList<>();
        for (StepPart p : new StepPart[] {runAhead, observing, checkpointing, segmented, lent}) {
            if (p != null) {
                parts.add(p);
            }
        }
        return parts;
    }

    /**
     * Zeroes this stage's gradients, then runs the schedule's actions for this stage, calling {@code forward} at each
     * forward action. A schedule without backward actions (evaluation) runs forwards only.
     */
    public void run(Schedule schedule, StageForward forward) {
        int m = schedule.microbatches();
        if (schedule.chunks() != stage.chunks().size()) {
            throw new IllegalArgumentException("a schedule for " + schedule.chunks() + " chunk(s) per rank on a rank "
                    + "with " + stage.chunks().size());
        }
        if (!gradientsZero) {
            stage.chunks().forEach(Parameters::zeroGradients);
        }
        List<Action> order = new ArrayList<>(schedule.forStage(stage.index())); // run-ahead may move forwards up
        boolean training = order.stream().anyMatch(a -> a.type() == Action.Type.BACKWARD);
        gradientsZero = !training; // an evaluation writes no gradient
        Parts parts = new Parts(parts(), stage);
        StageLink link = stage.link();
        StepRun step = null;
        boolean done = false;
        try (Flights flights = new Flights(stage.manager(), m * stage.chunks().size());
             GradientCollector gc = training ? Engine.getInstance().newGradientCollector() : null) {
            step = new StepRun(stage, parts, order, training, m, flights, gc);
            parts.beginStep(step);
            for (int i = 0; i < order.size(); i++) {
                parts.beforeAction(i);
                Action a = order.get(i);
                int c = a.chunk();
                int g = stage.global(c);
                int key = c * m + a.microbatch();
                InFlight f = flights.open(key);
                switch (a.type()) {
                    case RECV_ACTIVATION -> {
                        f.input = link.recv(f.scope, a, g, m);
                        if (training) {
                            StageGradients.requireGradients(f.input);
                        }
                    }
                    case FORWARD -> {
                        f.result = parts.forward(a, f, forward);
                        if (stage.last(c) && training && f.result.backwardTarget() == null) {
                            throw new IllegalStateException("microbatch " + a.microbatch() + " produced no loss to "
                                    + "backpropagate on the last stage (call model.backward(loss) in the step)");
                        }
                    }
                    case SEND_ACTIVATION -> link.send(f.result.output(), a, g, m, step.sends());
                    case RECV_GRADIENT -> f.upstreamGradients = link.recv(f.scope, a, g, m);
                    case BACKWARD -> parts.backward(a, f);
                    case SEND_GRADIENT -> link.send(StageGradients.inputGradients(f), a, g, m, step.sends());
                    default -> throw new IllegalStateException("unknown action " + a);
                }
                parts.afterAction(a, f);
                if (InFlight.lastAction(a, training, stage.first(c), stage.last(c))) {
                    flights.finish(key);
                }
            }
            CommRequest.awaitAll(step.sends());
            done = true;
            parts.endStep(true);
        } finally {
            if (step != null && !done) {
                parts.endStep(false);
            }
        }
    }
}
