package io.smp4j.examples.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Busy shares per step: what each rank contributes, how a step's span is found, how runs and the report use them. */
class BenchRunsTest {
    /** The arrays two ranks contribute, summed as the all-reduce sums them. */
    static float[] summed(int warmup) {
        float[] mine0 = {1, 2};
        float[] mine1 = {3, 4};
        // Steps warmup .. warmup + 2; rank 0's step warmup + 2 has no compute recorded.
        float[] a = BenchRuns.slots(mine0, Map.of((long) warmup, 80.0, (long) warmup + 1, 90.0), warmup,
                new double[] {100, 100, 200}, 0, 2);
        float[] b = BenchRuns.slots(mine1, Map.of((long) warmup, 70.0, (long) warmup + 1, 60.0, (long) warmup + 2,
                40.0), warmup, new double[] {95, 120, 100}, 1, 2);
        float[] all = new float[a.length];
        for (int i = 0; i < all.length; i++) {
            all[i] = a[i] + b[i];
        }
        return all;
    }

    @Test
    void eachStepIsDividedByItsLongestPipelineTime() {
        float[] all = summed(40);
        int w = 2 + 2 * 3;
        assertEquals(2 * w, all.length);
        assertArrayEquals(new float[] {1, 2, 80, 90, 0, 100, 100, 200}, Arrays.copyOfRange(all, 0, w));
        // Spans: max(100, 95) = 100, max(100, 120) = 120, max(200, 100) = 200.
        assertArrayEquals(new double[] {0.8, 0.75, 0.0}, BenchRuns.busyByStep(all, 3, 2, 0), 1e-6);
        assertArrayEquals(new double[] {0.7, 0.5, 0.2}, BenchRuns.busyByStep(all, 3, 2, 1), 1e-6);
    }

    static JsonObject run(String busy0, double step) {
        return JsonParser.parseString("{\"batch-size\":\"32\",\"dp_size\":1,\"step_ms\":[" + step + "],\"ranks\":["
                + "{\"compute_ms_per_step\":80,\"median_pipeline_ms\":100,\"busy_by_step\":" + busy0 + "},"
                + "{\"compute_ms_per_step\":60,\"median_pipeline_ms\":90}]}").getAsJsonObject();
    }

    @Test
    void runsPoolTheirStepsAndTheReportTakesTheMedian() {
        JsonObject merged = BenchRuns.merge(List.of(run("[0.9,0.5]", 100), run("[0.8]", 110)));
        JsonObject r0 = merged.getAsJsonArray("ranks").get(0).getAsJsonObject();
        JsonObject r1 = merged.getAsJsonArray("ranks").get(1).getAsJsonObject();
        assertEquals(3, r0.getAsJsonArray("busy_by_step").size());
        assertEquals(0.8, BenchReport.medianBusy(r0, -1), 1e-9);
        // A result without per-step shares (an older JSON) keeps the figure it is given.
        assertEquals(0, r1.getAsJsonArray("busy_by_step").size());
        assertEquals(0.6, BenchReport.medianBusy(r1, 0.6), 1e-9);
    }
}
