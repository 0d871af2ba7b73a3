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
import io.smp4j.pipeline.schedule.RunAhead;
import io.smp4j.pipeline.schedule.Schedule;
import io.smp4j.pipeline.wire.TensorCodec;
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
 *
 * <p>Longer than 300 lines: the one loop over a step's actions and the settings that shape it (run-ahead, activation
 * checkpointing, backward in segments, shared units); what each does lives in its own class ({@link StageLink},
 * {@link ActivationCheckpointing}, {@link SegmentedBackward}, {@link SharedBoundary}, {@link RunAhead}).
 *
 * <pre>{@code
 * PipelineExecutor exec = new PipelineExecutor(stageBlock, ppRank, ppSize, pipelineGroup, manager, "units 0..3");
 * exec.run(schedule, (mb, input, scope) -> { ... return new StageForward.Result(output, lossOrNull); });
 * }</pre>
 */
public final class PipelineExecutor {
    /** This rank's chunks (one without virtual stages): chunk c is global stage {@code c * stages + stageIndex}. */
    private final List<Block> chunks;
    private final int stageIndex;
    private final int stages;
    /** The chunk the running action belongs to (what {@link #forwardStage} and {@link #isLastStage} refer to). */
    private int current;
    private final String description;
    private final StageLink link;
    private final NDManager manager;
    private ParameterStore parameterStore;
    /** Optional observer of every action (the timeline trace hooks in here). */
    private ActionListener listener = (a, startNanos, endNanos) -> { };
    private static final Logger LOG = LoggerFactory.getLogger(PipelineExecutor.class);
    /** Waits for the device's queued work, so that an action's clock reads measure kernels, not their launches. */
    private Runnable synchronize = () -> { };
    /** Whether every gradient of the stage is known to be zero (else a step zeroes them first). */
    private boolean gradientsZero;
    private boolean checkpointActivations;
    private final ComputeClock clock;
    /** Backward in segments for an overlapped gradient all-reduce; null: one backward per microbatch. */
    private SegmentedBackward segmented;
    /** Where {@link #forwardStage} records a training forward in segments (the chunk's last microbatch). */
    private InFlight segmentInto;
    /** Most microbatches held while running ahead ({@link #setRunAhead}); 0: the schedule's order exactly. */
    private int runAhead;
    /** Shared boundary units ({@link #setSharedBoundary}); null: none. */
    private SharedBoundary shared;
    /** The microbatch of the running action. */
    private int currentMicrobatch;

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
        this.chunks = List.copyOf(chunks);
        this.clock = new ComputeClock(chunks.size());
        this.stageIndex = stageIndex;
        this.stages = stages;
        this.description = description;
        this.link = new StageLink(pipelineGroup);
        this.manager = manager;
        this.parameterStore = new ParameterStore(manager, false);
    }

    /**
     * Where the stage's blocks read their parameters (default: the parameters' own arrays). Half precision gives one
     * that hands out half-precision copies of the fp32 masters.
     */
    public void setParameterStore(ParameterStore store) {
        parameterStore = Objects.requireNonNull(store);
    }

    /**
     * The stage's parameters were given new arrays ({@code DjlInternals.replaceArray}): DJL's default parameter store
     * keeps the array it first handed out per parameter, so it is replaced by a fresh one. A store set by {@link
     * #setParameterStore} is the setter's to keep current.
     */
    public void parameterArraysReplaced() {
        if (parameterStore.getClass() == ParameterStore.class) {
            parameterStore = new ParameterStore(manager, false);
        }
    }

    /** Observes every action; while it is active, clocks are read after {@code synchronize} (GPU), around each. */
    public void setListener(ActionListener listener, Runnable synchronize) {
        this.listener = Objects.requireNonNull(listener);
        this.synchronize = Objects.requireNonNull(synchronize);
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
        checkpointActivations = on;
        if (on) {
            LOG.info("stage {}: activation checkpointing{}", stageIndex, chunks.size() == 1 && last(0)
                    ? " not applied (the last stage keeps its activations)"
                    : ": forwards keep only their input and output, backward recomputes (not on the last stage)");
        }
    }

    /**
     * {@link RunAhead Run-ahead} within {@code activeMicrobatches} in training steps (bitwise the schedule's results);
     * 0, the default, keeps the schedule's order. Not over a {@link DeviceLink}: it cannot probe for a late gradient.
     */
    public void setRunAhead(int activeMicrobatches) {
        if (activeMicrobatches < 0) {
            throw new IllegalArgumentException("run-ahead needs active_microbatches >= 0, got " + activeMicrobatches);
        }
        runAhead = activeMicrobatches;
    }

    /**
     * Shared boundary units ({@link SharedBoundary}; one chunk per rank, schedules whose backwards run in microbatch
     * order); null for none.
     */
    public void setSharedBoundary(SharedBoundary boundary) {
        if (boundary != null && chunks.size() != 1) {
            throw new IllegalArgumentException("shared boundary units need one chunk per rank, this rank has "
                    + chunks.size());
        }
        shared = boundary == null || (boundary.in() == 0 && boundary.out() == 0) ? null : boundary;
    }

    /** The block microbatch {@code mb} of chunk {@code c} runs (a variant of the chunk with shared units). */
    private Block block(int c, int mb) {
        return shared == null ? chunks.get(c) : shared.block(mb);
    }

    /** Tells {@code hook} which parameters' gradients are final during backward ({@link SegmentedBackward}). */
    public void setGradientsReady(GradientsReady hook) {
        segmented = hook == null ? null : new SegmentedBackward(chunks, hook);
    }

    /** The per-chunk forward + backward time of training steps, while measuring (for re-partitioning). */
    public ComputeClock computeClock() {
        return clock;
    }

    private int global(int chunk) {
        return chunk * stages + stageIndex;
    }

    private boolean first(int chunk) {
        return global(chunk) == 0;
    }

    private boolean last(int chunk) {
        return global(chunk) == stages * chunks.size() - 1;
    }

    /** Sends and receives through {@code link} for the neighbours it reaches (see {@link DeviceLink}). */
    public void setDeviceLink(DeviceLink link) {
        this.link.setDeviceLink(link);
    }

    /** How messages to peers without a device link cross between the device and host memory (default: DJL's copies). */
    public void setHostStaging(HostStaging staging) {
        this.link.setHostStaging(staging);
    }

    /** Whether the chunk running now (the only one without virtual stages) is the model's first stage. */
    public boolean isFirstStage() {
        return first(current);
    }

    /** Whether the chunk running now (the only one without virtual stages) is the model's last stage. */
    public boolean isLastStage() {
        return last(current);
    }

    /**
     * Runs the stage on {@code input} (training: batch statistics, autograd). A stage that cannot take the input (a
     * count, shape or type mismatch between what the previous stage sent and what this one expects) fails with an
     * error naming the stage and the input it got.
     */
    public NDList forwardStage(NDList input, boolean training) {
        try {
            if (segmentInto != null && training) {
                return segmented.forward(current, parameterStore, input, segmentInto);
            }
            return block(current, currentMicrobatch).forward(parameterStore, input, training);
        } catch (RuntimeException e) {
            throw new IllegalStateException("stage " + global(current) + " of " + stages * chunks.size() + " ("
                    + description + ") cannot run on its input " + TensorCodec.Header.of(input) + ": " + e.getMessage(),
                    e);
        }
    }

    /** After action {@code a}, begun at {@code t0}: the device synchronised, its time to the clock and listener. */
    private void observed(Action a, long t0, boolean listened, boolean measured) {
        synchronize.run();
        long t1 = System.nanoTime();
        if (measured) {
            clock.add(a.chunk(), t1 - t0, a.type() == Action.Type.FORWARD);
        }
        if (listened) {
            listener.executed(a, t0, t1);
        }
    }

    /**
     * Zeroes this stage's gradients, then runs the schedule's actions for this stage, calling {@code forward} at each
     * forward action. A schedule without backward actions (evaluation) runs forwards only.
     */
    public void run(Schedule schedule, StageForward forward) {
        int m = schedule.microbatches();
        if (schedule.chunks() != chunks.size()) {
            throw new IllegalArgumentException("a schedule for " + schedule.chunks() + " chunk(s) per rank on a rank "
                    + "with " + chunks.size());
        }
        if (!gradientsZero) {
            chunks.forEach(Parameters::zeroGradients);
        }
        List<CommRequest> sends = new ArrayList<>();
        NDList sharedSums = null;
        List<Action> order = new ArrayList<>(schedule.forStage(stageIndex)); // run-ahead may move forwards up
        boolean training = order.stream().anyMatch(a -> a.type() == Action.Type.BACKWARD);
        gradientsZero = !training; // an evaluation writes no gradient
        boolean overlapping = training && segmented != null;
        boolean done = false;
        if (overlapping) {
            segmented.begin(order);
        }
        try (Flights flights = new Flights(manager, m * chunks.size());
             GradientCollector gc = training ? Engine.getInstance().newGradientCollector() : null) {
            if (shared != null) {
                long t0 = System.nanoTime();
                shared.start(link, stageIndex, manager, training, m, sends);
                if (clock.measuring() && training && shared.in() == 0) {
                    // What sharing costs counts in this stage's time for re-partitioning (not in the timeline's
                    // compute), so that a share that does not pay shows in the next check; not a replica's receive
                    // here, which also waits for the owner to start its step.
                    clock.add(0, System.nanoTime() - t0, false);
                }
            }
            for (int i = 0; i < order.size(); i++) {
                if (training && runAhead > 0) {
                    RunAhead.pull(order, i, flights.held(), runAhead, r -> link.arrived(r, global(r.chunk()), m));
                }
                Action a = order.get(i);
                boolean listened = listener.active();
                // Training steps only: an evaluation's forwards say nothing about a training step's balance.
                boolean measured = clock.measuring() && training && a.type().computes();
                boolean timed = listened || measured;
                if (timed) {
                    synchronize.run();
                }
                long t0 = System.nanoTime();
                int mb = a.microbatch();
                int c = a.chunk();
                current = c;
                currentMicrobatch = mb;
                int g = global(c);
                int key = c * m + mb;
                InFlight f = flights.open(key);
                switch (a.type()) {
                    case RECV_ACTIVATION -> {
                        f.input = link.recv(f.scope, a, g, m);
                        if (training) {
                            StageGradients.requireGradients(f.input);
                        }
                    }
                    case FORWARD -> {
                        boolean keep = training && checkpointActivations && !last(c);
                        segmentInto = overlapping && !keep && segmented.lastOf(c, mb) ? f : null;
                        f.result = keep ? ActivationCheckpointing.forwardKeepingInput(forward, mb, f, g)
                                : forward.forward(mb, f.input, f.scope);
                        segmentInto = null;
                        if (last(c) && training && f.result.backwardTarget() == null) {
                            throw new IllegalStateException("microbatch " + mb + " produced no loss to backpropagate "
                                    + "on the last stage (call model.backward(loss) in the step)");
                        }
                    }
                    case SEND_ACTIVATION -> link.send(f.result.output(), a, g, m, sends);
                    case RECV_GRADIENT -> f.upstreamGradients = link.recv(f.scope, a, g, m);
                    case BACKWARD -> {
                        segmentInto = overlapping && f.recompute && segmented.lastOf(c, mb) ? f : null;
                        Runnable restore = f.recompute ? ActivationCheckpointing.recompute(
                                in -> forwardStage(in, true), block(c, mb), f) : () -> { };
                        segmentInto = null;
                        NDArray target = last(c) ? f.result.backwardTarget() : StageGradients.backwardTarget(f, mb,
                                "stage " + global(c) + " (" + description + ")");
                        if (f.segments != null) {
                            segmented.backward(gc, target, c, f);
                        } else {
                            gc.backward(target);
                        }
                        restore.run();
                    }
                    case SEND_GRADIENT -> link.send(StageGradients.inputGradients(f), a, g, m, sends);
                    default -> throw new IllegalStateException("unknown action " + a);
                }
                if (timed) {
                    observed(a, t0, listened, measured);
                }
                if (shared != null && a.type() == Action.Type.BACKWARD) {
                    // Messages, not compute: outside the timeline's backward, in the re-partitioner's stage time.
                    long t1 = System.nanoTime();
                    NDList sent = shared.afterBackward(mb, link, stageIndex, manager, sends);
                    sharedSums = sent != null ? sent : sharedSums;
                    if (measured) {
                        clock.add(c, System.nanoTime() - t1, false);
                    }
                }
                if (InFlight.lastAction(a, training, first(c), last(c))) {
                    flights.finish(key);
                }
            }
            CommRequest.awaitAll(sends);
            if (overlapping) {
                segmented.hook().backwardDone();
            }
            done = true;
        } finally {
            if (sharedSums != null) {
                sharedSums.close();
            }
            segmentInto = null;
            if (overlapping && !done) {
                segmented.hook().aborted();
            }
        }
    }
}
