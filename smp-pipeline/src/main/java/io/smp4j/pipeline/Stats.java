package io.smp4j.pipeline;

import java.util.Arrays;
import java.util.List;

/** Medians: of measured stage times (re-partitioning), and of what the examples and benchmarks report. */
public final class Stats {
    private Stats() {
    }

    /** The median of {@code v} (mean of the middle two for an even count), 0 when empty. */
    public static double median(double[] v) {
        if (v.length == 0) {
            return 0;
        }
        double[] c = v.clone();
        Arrays.sort(c);
        return c.length % 2 == 1 ? c[c.length / 2] : (c[c.length / 2 - 1] + c[c.length / 2]) / 2;
    }

    public static double median(List<Double> v) {
        return median(v.stream().mapToDouble(Double::doubleValue).toArray());
    }
}
