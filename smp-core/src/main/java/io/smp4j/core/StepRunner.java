package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.smp4j.comm.Communicator;
import io.smp4j.pipeline.Microbatches;
import io.smp4j.pipeline.exec.PipelineExecutor;
import io.smp4j.pipeline.schedule.Schedule;
import io.smp4j.pipeline.schedule.Schedules;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Parameter;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** How {@link Smp#step} runs a {@link Step} method: find and check it, split its arguments, run the schedule. */
final class StepRunner {
    private StepRunner() {
    }

    static Method find(Class<?> type, String name, Object[] args) {
        List<Method> named = Arrays.stream(type.getMethods()).filter(m -> m.getName().equals(name)).toList();
        if (named.isEmpty()) {
            throw new IllegalArgumentException("no public method '" + name + "' in " + type.getName()
                    + ": a step must be a public method annotated @Step");
        }
        for (Method m : named) {
            if (m.getParameterCount() != args.length) {
                continue;
            }
            if (!m.isAnnotationPresent(Step.class)) {
                throw new IllegalArgumentException("method " + type.getSimpleName() + "." + name
                        + " is not annotated @Step");
            }
            if (Modifier.isStatic(m.getModifiers())) {
                throw new IllegalArgumentException("step method " + name + " must not be static");
            }
            Class<?>[] types = m.getParameterTypes();
            int models = 0;
            for (int i = 0; i < types.length; i++) {
                if (args[i] != null && !box(types[i]).isInstance(args[i])) {
                    throw new IllegalArgumentException("step " + name + ": argument " + i + " is a "
                            + args[i].getClass().getSimpleName() + " but the parameter is " + types[i].getSimpleName());
                }
                if (types[i] == DistributedModel.class) {
                    models++;
                }
            }
            if (models != 1) {
                throw new IllegalArgumentException("step " + name + " must take exactly one DistributedModel "
                        + "parameter, found " + models);
            }
            Class<?> ret = m.getReturnType();
            if (ret != void.class && !NDArray.class.isAssignableFrom(ret) && !Number.class.isAssignableFrom(box(ret))
                    && ret != NDList.class && ret != NDArray[].class) {
                throw new IllegalArgumentException("step " + name + " returns " + ret.getSimpleName()
                        + "; a step returns void, an NDArray, a number, or several values as an NDList or NDArray[]");
            }
            return m;
        }
        throw new IllegalArgumentException("step " + name + " takes " + named.get(0).getParameterCount()
                + " arguments, " + args.length + " given");
    }

    private static Class<?> box(Class<?> t) {
        if (!t.isPrimitive()) {
            return t;
        }
        return t == int.class ? Integer.class : t == long.class ? Long.class : t == float.class ? Float.class
                : t == double.class ? Double.class : t == boolean.class ? Boolean.class : Object.class;
    }

    static StepOutput run(Smp smp, Object target, Method method, Object[] args)
            throws InvocationTargetException, IllegalAccessException {
        int m = smp.config().microbatches();
        DistributedModel model = null;
        for (Object a : args) {
            if (a instanceof DistributedModel d) {
                model = d;
            }
        }
        // Cut every splittable argument now: a bad batch size fails before any work.
        Parameter[] params = method.getParameters();
        List<Object[]> perMicrobatch = new ArrayList<>();
        for (int i = 0; i < m; i++) {
            perMicrobatch.add(args.clone());
        }
        for (int i = 0; i < args.length; i++) {
            boolean split = (args[i] instanceof NDArray || args[i] instanceof NDList)
                    && !params[i].isAnnotationPresent(NotSplit.class);
            if (!split) {
                continue;
            }
            int axis = params[i].isAnnotationPresent(SplitAxis.class)
                    ? params[i].getAnnotation(SplitAxis.class).value() : 0;
            NDList whole = args[i] instanceof NDArray a ? new NDList(a) : (NDList) args[i];
            List<NDList> parts = Microbatches.split(whole, m, axis);
            for (int k = 0; k < m; k++) {
                perMicrobatch.get(k)[i] = args[i] instanceof NDArray ? parts.get(k).head() : parts.get(k);
            }
        }
        try {
            if (!model.partitioned()) {
                model.partition(trace(model, target, method, perMicrobatch.get(0)));
            }
            PipelineExecutor exec = model.executor();
            Schedule schedule = model.isTraining()
                    ? Schedules.of(smp.config().pipeline(), smp.ppSize(), m, smp.config().activeMicrobatches())
                    : Schedules.forwardOnly(smp.ppSize(), m);
            float[][][] values = new float[m][][];
            Shape[][] shapes = new Shape[m][];
            DistributedModel dm = model;
            exec.run(schedule, (mb, input, scope) -> {
                DistributedModel.StepContext ctx = new DistributedModel.StepContext(input, scope, false);
                dm.enter(ctx);
                try {
                    Object r = method.invoke(target, perMicrobatch.get(mb));
                    // The microbatch's arrays die after its backward: copy the value out now.
                    List<NDArray> vs = r instanceof NDArray a ? List.of(a)
                            : r instanceof Number n ? List.of(scope.create(n.floatValue()))
                            : r instanceof NDList l ? l
                            : r instanceof NDArray[] arr ? List.of(arr) : List.of();
                    values[mb] = new float[vs.size()][];
                    shapes[mb] = new Shape[vs.size()];
                    for (int k = 0; k < vs.size(); k++) {
                        values[mb][k] = vs.get(k).toFloatArray();
                        shapes[mb][k] = vs.get(k).getShape();
                    }
                } catch (InvocationTargetException e) {
                    if (e.getCause() != DistributedModel.StepContext.STOP) {
                        throw e.getCause() instanceof RuntimeException re ? re
                                : new IllegalStateException("step failed: " + e.getCause(), e.getCause());
                    }
                } catch (IllegalAccessException e) {
                    throw new IllegalStateException(e);
                } finally {
                    dm.leave();
                }
                if (ctx.output == null) {
                    throw new IllegalStateException("the step did not call model.forward for microbatch " + mb);
                }
                List<NDArray> keep = new ArrayList<>(ctx.keepAlive);
                return new PipelineExecutor.Forward.Result(ctx.output, ctx.target, keep);
            });
            StepOutput out = gather(model, values, shapes);
            model.replaceOutput(out);
            return out;
        } finally {
            for (Object[] a : perMicrobatch) {
                for (int i = 0; i < a.length; i++) {
                    if (a[i] != args[i] && a[i] instanceof NDArray x) {
                        x.close();
                    } else if (a[i] != args[i] && a[i] instanceof NDList l) {
                        l.close();
                    }
                }
            }
        }
    }

    /** SageMaker's tracing pass: run the body for microbatch 0 until model.forward, to learn the model input. */
    private static NDList trace(DistributedModel model, Object target, Method method, Object[] args)
            throws IllegalAccessException {
        DistributedModel.StepContext ctx = new DistributedModel.StepContext(null, null, true);
        model.enter(ctx);
        try {
            method.invoke(target, args);
        } catch (InvocationTargetException e) {
            if (e.getCause() != DistributedModel.StepContext.STOP) {
                throw e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
            }
        } finally {
            model.leave();
        }
        if (ctx.traced == null) {
            throw new IllegalArgumentException("the step " + method.getName() + " never calls model.forward");
        }
        return ctx.traced;
    }

    /** The last stage's values, sent to every rank of the pipeline group. */
    private static StepOutput gather(DistributedModel model, float[][][] values, Shape[][] shapes) {
        Communicator pipe = model.smp().pipelineGroup();
        int last = pipe.size() - 1;
        byte[] msg = null;
        if (pipe.rank() == last) {
            int bytes = 4;
            for (int i = 0; i < values.length; i++) {
                bytes += 4;
                for (int k = 0; values[i] != null && k < values[i].length; k++) {
                    bytes += 4 + 8 * shapes[i][k].dimension() + 4 + 4 * values[i][k].length;
                }
            }
            ByteBuffer b = ByteBuffer.allocate(bytes).putInt(values.length);
            for (int i = 0; i < values.length; i++) {
                int count = values[i] == null ? 0 : values[i].length;
                b.putInt(count);
                for (int k = 0; k < count; k++) {
                    b.putInt(shapes[i][k].dimension());
                    for (long d : shapes[i][k].getShape()) {
                        b.putLong(d);
                    }
                    b.putInt(values[i][k].length);
                    for (float f : values[i][k]) {
                        b.putFloat(f);
                    }
                }
            }
            msg = b.array();
        }
        ByteBuffer b = ByteBuffer.wrap(pipe.broadcast(msg, last));
        int n = b.getInt();
        // vals.get(k): the k-th returned value of every microbatch.
        List<List<float[]>> vals = new ArrayList<>();
        List<List<Shape>> shp = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int count = b.getInt();
            for (int k = 0; k < count; k++) {
                if (vals.size() <= k) {
                    vals.add(new ArrayList<>());
                    shp.add(new ArrayList<>());
                }
                long[] s = new long[b.getInt()];
                for (int d = 0; d < s.length; d++) {
                    s[d] = b.getLong();
                }
                float[] v = new float[b.getInt()];
                for (int j = 0; j < v.length; j++) {
                    v[j] = b.getFloat();
                }
                vals.get(k).add(v);
                shp.get(k).add(new Shape(s));
            }
        }
        NDManager outManager = model.manager().newSubManager();
        return StepOutput.of(outManager, vals, shp);
    }
}
