package io.smp4j.core;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Parameter;
import java.util.Arrays;
import java.util.List;

/**
 * A {@link Step} method as the runner sees it: checked once against the arguments it is called with (a usable
 * signature, exactly one model parameter, a supported return type), and how each argument is cut into microbatches.
 *
 * @param method the step method
 * @param axes   per parameter, the axis to split along, or -1 for an argument passed whole to every microbatch
 * @param model  index of the model parameter
 */
record StepSignature(Method method, int[] axes, int model) {
    static final int WHOLE = -1;

    /**
     * Each class's public methods, asked for once: {@code getMethods} copies every one of them on each call, which
     * cost a step tens of microseconds before its first kernel (a GPU idles that long).
     */
    private static final ClassValue<Method[]> METHODS = new ClassValue<>() {
        @Override
        protected Method[] computeValue(Class<?> type) {
            return type.getMethods();
        }
    };
    /** Signatures already checked, by method: only the arguments are checked again. */
    private static final java.util.Map<Method, StepSignature> CHECKED = new java.util.concurrent.ConcurrentHashMap<>();

    static StepSignature of(Class<?> type, String name, Object[] args) {
        List<Method> named = new java.util.ArrayList<>(1);
        for (Method m : METHODS.get(type)) {
            if (m.getName().equals(name)) {
                named.add(m);
            }
        }
        if (named.isEmpty()) {
            List<String> steps = Arrays.stream(METHODS.get(type)).filter(m -> m.isAnnotationPresent(Step.class))
                    .map(Method::getName).distinct().sorted().toList();
            throw new IllegalArgumentException("no public method '" + name + "' in " + type.getName()
                    + ": " + NearestName.hint(name, steps) + "a step must be a public method annotated @Step"
                    + (steps.isEmpty() ? "" : "; its steps: " + String.join(", ", steps)));
        }
        for (Method m : named) {
            if (m.getParameterCount() == args.length) {
                return check(type, m, args);
            }
        }
        throw new IllegalArgumentException("step " + name + " takes " + named.get(0).getParameterCount()
                + " arguments, " + args.length + " given");
    }

    private static StepSignature check(Class<?> type, Method m, Object[] args) {
        StepSignature known = CHECKED.get(m);
        if (known != null) {
            known.checkArguments(args);
            return known;
        }
        StepSignature checked = checkMethod(type, m, args);
        CHECKED.put(m, checked);
        return checked;
    }

    /** Each argument an instance of its parameter's type (null passes). */
    private void checkArguments(Object[] args) {
        Class<?>[] types = method.getParameterTypes();
        for (int i = 0; i < types.length; i++) {
            argumentFits(method.getName(), i, types[i], args[i]);
        }
    }

    private static void argumentFits(String name, int i, Class<?> t, Object arg) {
        if (arg != null && !box(t).isInstance(arg)) {
            throw new IllegalArgumentException("step " + name + ": argument " + i + " is a "
                    + arg.getClass().getSimpleName() + " but the parameter is " + t.getSimpleName());
        }
    }

    private static StepSignature checkMethod(Class<?> type, Method m, Object[] args) {
        String name = m.getName();
        if (!m.isAnnotationPresent(Step.class)) {
            throw new IllegalArgumentException("method " + type.getSimpleName() + "." + name
                    + " is not annotated @Step");
        }
        if (Modifier.isStatic(m.getModifiers())) {
            throw new IllegalArgumentException("step method " + name + " must not be static");
        }
        Parameter[] params = m.getParameters();
        int model = -1;
        int models = 0;
        int[] axes = new int[params.length];
        for (int i = 0; i < params.length; i++) {
            Class<?> t = params[i].getType();
            argumentFits(name, i, t, args[i]);
            if (StepModel.class.isAssignableFrom(t)) {
                models++;
                model = i;
            }
            boolean splittable = NDArray.class.isAssignableFrom(t) || t == NDList.class;
            axes[i] = !splittable || params[i].isAnnotationPresent(NotSplit.class) ? WHOLE
                    : params[i].isAnnotationPresent(SplitAxis.class) ? params[i].getAnnotation(SplitAxis.class).value()
                    : 0;
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
        return new StepSignature(m, axes, model);
    }

    private static Class<?> box(Class<?> t) {
        if (!t.isPrimitive()) {
            return t;
        }
        return t == int.class ? Integer.class : t == long.class ? Long.class : t == float.class ? Float.class
                : t == double.class ? Double.class : t == boolean.class ? Boolean.class : Object.class;
    }

    String name() {
        return method.getName();
    }

    StepModel modelOf(Object[] args) {
        return (StepModel) args[model];
    }

    /** Calls the step; an exception of the body comes out as itself (a checked one wrapped). */
    Object invoke(Object target, Object[] args) {
        try {
            return method.invoke(target, args);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException re) {
                throw re;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException("step " + name() + " failed: " + cause, cause);
        } catch (IllegalAccessException e) {
            throw new IllegalArgumentException("step method " + name() + " is not accessible: make it public", e);
        }
    }
}
