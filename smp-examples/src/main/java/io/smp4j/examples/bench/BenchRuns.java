package io.smp4j.examples.bench;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.smp4j.examples.Stats;
import java.util.ArrayList;
import java.util.List;

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
            for (JsonObject run : runs) {
                JsonObject rk = run.getAsJsonArray("ranks").get(k).getAsJsonObject();
                compute += rk.get("compute_ms_per_step").getAsDouble() / runs.size();
                pipe += (rk.has("median_pipeline_ms") ? rk.get("median_pipeline_ms").getAsDouble() : 0) / runs.size();
            }
            ranks.get(k).getAsJsonObject().addProperty("compute_ms_per_step", compute);
            ranks.get(k).getAsJsonObject().addProperty("median_pipeline_ms", pipe);
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
}
