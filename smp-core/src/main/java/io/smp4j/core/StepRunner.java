package io.smp4j.core;

import ai.djl.ndarray.NDManager;
import io.smp4j.comm.Communicator;
import io.smp4j.pipeline.exec.PipelineExecutor;
import io.smp4j.pipeline.exec.StageForward;
import io.smp4j.pipeline.schedule.Schedule;

/**
 * Runs a {@link Step} method as one pipelined step: checks the method against its arguments, cuts them
 * into microbatches, partitions the model at the first step (after a tracing pass over microbatch 0), runs this
 * rank's part of the schedule with the body as each microbatch's forward, and returns the last stage's values on
 * every rank of the pipeline group.
 */
public final class StepRunner {
    /**
     * What a step needs of the job.
     *
     * @param microbatches how many parts each batch is cut into
     * @param training     the schedule of training steps
     * @param evaluation   the schedule of evaluation steps (forwards only)
     * @param pipeline     the ranks of this model replica, by stage
     */
    public record Environment(int microbatches, Schedule training, Schedule evaluation, Communicator pipeline) {
    }

    private StepRunner() {
    }

    public static StepOutput run(Environment env, Object target, String method, Object... args) {
        StepSignature signature = StepSignature.of(target.getClass(), method, args);
        StepModel model = signature.modelOf(args);
        try (MicrobatchArguments parts = new MicrobatchArguments(signature, args, env.microbatches(),
                model.manager().getDevice())) {
            if (!model.partitioned()) {
                trace(signature, target, parts.of(0), model);
            }
            model.beginStep();
            PipelineExecutor exec = model.executor();
            NDManager outManager = model.manager().newSubManager();
            StepOutput result;
            try {
                OutputBroadcast outputs = new OutputBroadcast(env.microbatches(), outManager);
                exec.run(model.isTraining() ? env.training() : env.evaluation(), call -> {
                    int mb = call.microbatch();
                    MicrobatchContext ctx = MicrobatchContext.running(call);
                    Object returned = model.running(ctx, () -> signature.invoke(target, parts.of(mb)));
                    if (ctx.output() == null) {
                        throw new IllegalStateException("the step " + signature.name() + " did not call "
                                + "model.forward for microbatch " + mb);
                    }
                    if (call.lastStage()) {
                        outputs.record(mb, returned);
                    }
                    return new StageForward.Result(ctx.output(), ctx.backwardTarget(), ctx.input());
                });
                result = new StepOutput(outManager, outputs.broadcast(env.pipeline()));
            } catch (RuntimeException | Error e) {
                outManager.close();
                throw e;
            }
            model.adoptOutput(result);
            return result;
        }
    }

    /**
     * SageMaker's tracing pass: the body runs once for microbatch 0 with the whole model (no gradients, nothing
     * learned), which shows the model's input and output; then the model is partitioned with that input.
     */
    private static void trace(StepSignature signature, Object target, Object[] args, StepModel model) {
        try (NDManager scope = model.manager().newSubManager()) {
            MicrobatchContext ctx = MicrobatchContext.tracing(scope);
            model.running(ctx, () -> signature.invoke(target, args));
            if (ctx.input() == null) {
                throw new IllegalArgumentException("the step " + signature.name() + " never calls model.forward");
            }
            if (!model.partitioned()) { // a model of delayed initialisation partitioned at its forward
                model.partition(ctx.input(), ctx.modelOutput());
            }
        }
    }
}
