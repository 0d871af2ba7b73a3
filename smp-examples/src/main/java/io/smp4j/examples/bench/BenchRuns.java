package io.smp4j.examples.bench;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.smp4j.pipeline.Stats;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Several runs of one benchmark configuration as one result. */
final class BenchRuns {
    private BenchRuns() {
    }

    /** One result from several runs of one configuration. */
    static JsonObject merge(List<JsonObject> runs) {
        JsonObject out = runs.get(0).deepCopy();
        List<Double> steps = new ArrayList<>();
        for (JsonObject run : runs) {
            run.getAsJsonArray("step_ms").forEach(e -> steps.add(e.getAsDouble()));
        }
        double med = Stats.median(steps);
        JsonArray ranks = out.getAsJsonArray("ranks");
        for (int k = 0; k < ranks.size(); k++) {
            double compute = 0;
            double pipe = 0;
            JsonArray busy = new JsonArray();
            for (JsonObject run : runs) {
                JsonObject rk = run.getAsJsonArray("ranks").get(k).getAsJsonObject();
                compute += rk.get("compute_ms_per_step").getAsDouble() / runs.size();
                pipe += (rk.has("median_pipeline_ms") ? rk.get("median_pipeline_ms").getAsDouble() : 0) / runs.size();
                if (rk.has("busy_by_step")) {
                    busy.addAll(rk.getAsJsonArray("busy_by_step"));
                }
            }
            ranks.get(k).getAsJsonObject().addProperty("compute_ms_per_step", compute);
            ranks.get(k).getAsJsonObject().addProperty("median_pipeline_ms", pipe);
            ranks.get(k).getAsJsonObject().add("busy_by_step", busy); // every step of every run
        }
        int batch = Integer.parseInt(out.get("batch-size").getAsString());
        out.addProperty("median_step_ms", med);
        out.addProperty("samples_per_second", batch * out.get("dp_size").getAsInt() / (med / 1e3));
        out.addProperty("runs", runs.size());
        JsonArray plans = new JsonArray();
        for (JsonObject run : runs) {
            if (run.has("plans")) {
                plans.add(run.get("plans"));
            }
        }
        out.add("plans_per_run", plans);
        JsonArray all = new JsonArray();
        steps.forEach(all::add);
        out.add("step_ms", all);
        return out;
    }

    /**
     * This rank's slots of the array all ranks sum: {@code mine}, then per timed step its compute (forward + backward
     * milliseconds, from {@code computeByStep} keyed by step number) and its pipeline time ({@code pipe}).
     */
    static float[] slots(float[] mine, Map<Long, Double> computeByStep, int warmup, double[] pipe, int rank,
                         int ranks) {
        int steps = pipe.length;
        int w = mine.length + 2 * steps;
        float[] all = new float[w * ranks];
        System.arraycopy(mine, 0, all, w * rank, mine.length);
        for (int i = 0; i < steps; i++) {
            all[w * rank + mine.length + i] = computeByStep.getOrDefault((long) (warmup + i), 0.0).floatValue();
            all[w * rank + mine.length + steps + i] = (float) pipe[i];
        }
        return all;
    }

    /**
     * Rank {@code k}'s busy share of each timed step, from the summed {@link #slots} of all ranks: its forward +
     * backward time in that step over the longest pipeline time of any rank in that step (the step's pipeline span:
     * every step starts after a barrier). Taken per step, so that a slow spell in one step moves both the numerator
     * and the denominator of that step only.
     */
    static double[] busyByStep(float[] all, int steps, int ranks, int k) {
        int w = all.length / ranks;
        int base = w - 2 * steps; // the slots before the per-step ones (see slots)
        double[] busy = new double[steps];
        for (int i = 0; i < steps; i++) {
            double span = 0;
            for (int j = 0; j < ranks; j++) {
                span = Math.max(span, all[w * j + base + steps + i]);
            }
            busy[i] = span > 0 ? all[w * k + base + i] / span : 0;
        }
        return busy;
    }

    /** A plan's boundaries, and its lent units: e.g. {@code [0, 19, 39], unit 18 lent 3/8}. */
    static String describePlan(io.smp4j.pipeline.partition.PartitionPlan plan, int microbatches) {
        StringBuilder b = new StringBuilder(java.util.Arrays.toString(plan.boundaries()));
        for (int s = 1; s < plan.stages(); s++) {
            if (plan.lentIn(s) > 0) {
                b.append(", unit ").append(plan.firstUnit(s) - 1).append(" lent ").append(plan.lentIn(s))
                        .append('/').append(microbatches);
            }
        }
        return b.toString();
    }

    /**
     * The names of a rank's own slots, in the order TrainBench fills them (before its per-step slots). The overlapped
     * all-reduce's three (0 when not overlapped): the communication thread's time, the share hidden, buckets per step.
     */
    static final String[] RANK_SLOTS = {"compute_ms_per_step", "all_reduce_ms_per_step", "median_step_ms",
        "median_pipeline_ms", "peak_rss_mb", "rss_at_first_timed_step_mb", "gradient_copy_ms", "all_reduce_comm_ms",
        "send_ms_per_message", "recv_ms_per_message", "overlapped_all_reduce_ms", "hidden_fraction", "buckets"};

    /**
     * Rank {@code k}'s row of a training benchmark's result, from the summed {@link #slots} of all ranks ({@code w}
     * slots each: {@link #RANK_SLOTS}, then two per observed step).
     */
    static Map<String, Object> rankRow(float[] all, int w, int k, int observed, int ranks) {
        Map<String, Object> rk = new LinkedHashMap<>();
        rk.put("rank", k);
        for (int i = 0; i < RANK_SLOTS.length; i++) {
            rk.put(RANK_SLOTS[i], all[w * k + i]);
        }
        rk.put("busy_by_step", busyByStep(all, observed, ranks, k));
        return rk;
    }
}
