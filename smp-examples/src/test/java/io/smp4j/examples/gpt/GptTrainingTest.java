package io.smp4j.examples.gpt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.smp4j.examples.CliRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The gpt example end to end through {@code ./smp run}'s code path: on Debian's license texts a 2-layer transformer's
 * loss falls visibly in 40 steps over 2 stages; a run resumed from its checkpoint (delayed initialisation, then the
 * saved stages loaded) continues exactly as the uninterrupted run; metrics, every rank's peak memory and the trace are
 * written; a bad option is refused before any work.
 */
class GptTrainingTest {
    static final List<String> SMALL = List.of("--layers", "2", "--hidden", "32", "--heads", "2", "--seq-len", "32",
            "--batch-size", "8", "--lr", "0.003", "--log-every", "10");

    @TempDir
    Path dir;

    private static String[] run(List<String> args) throws Exception {
        CliRun r = CliRun.of(args);
        return new String[] {"" + r.code(), r.output()};
    }

    private JsonObject gpt(String name, String... extra) throws Exception {
        List<String> args = new ArrayList<>(List.of("run", "-np", "2", "--threads", "1", "gpt", "--partitions", "2",
                "--microbatches", "2"));
        args.addAll(SMALL);
        args.addAll(List.of(extra));
        Path json = dir.resolve(name + ".json");
        args.addAll(List.of("--metrics-json", json.toString()));
        String[] r = run(args);
        Files.writeString(Path.of("target", "gpt-example-" + name + ".log"), r[1]);
        assertEquals("0", r[0], r[1]);
        return JsonParser.parseString(Files.readString(json)).getAsJsonObject();
    }

    private static float[] losses(JsonObject m) {
        JsonArray a = m.getAsJsonArray("losses");
        float[] l = new float[a.size()];
        for (int i = 0; i < l.length; i++) {
            l[i] = a.get(i).getAsFloat();
        }
        return l;
    }

    @Test
    void lossFallsResumeContinuesExactlyAndMetricsAreWritten() throws Exception {
        JsonObject whole = gpt("whole", "--steps", "40", "--trace", dir.resolve("trace.json").toString());
        float[] l = losses(whole);
        assertEquals(40, l.length);
        // From about ln(256) = 5.5 (no knowledge) to well below: the text's bytes are far from uniform.
        assertTrue(l[0] > 5.0 && l[39] < 0.75 * l[0], "losses " + java.util.Arrays.toString(l));
        assertEquals(2, whole.getAsJsonArray("peak_rss_mb").size());
        assertTrue(whole.get("largest_peak_rss_mb").getAsDouble() > 50, whole.toString());
        assertTrue(whole.get("delayed_initialization").getAsBoolean());
        assertTrue(Files.size(dir.resolve("trace.json")) > 1000);
        assertTrue(Files.size(dir.resolve("trace.svg")) > 1000);

        Path ck = dir.resolve("ck");
        gpt("first", "--steps", "20", "--checkpoint-dir", ck.toString());
        float[] resumed = losses(gpt("resumed", "--steps", "40", "--checkpoint-dir", ck.toString(), "--resume"));
        assertEquals(20, resumed.length);
        for (int i = 0; i < 20; i++) {
            assertEquals(l[20 + i], resumed[i], 0f, "step " + (21 + i));
        }
    }

    @Test
    void badOptionsAreRefusedBeforeAnyWork() throws Exception {
        String[] r = run(List.of("run", "-np", "1", "gpt", "--hidden", "30", "--heads", "4"));
        assertEquals("2", r[0], r[1]);
        assertTrue(r[1].contains("--hidden 30 is not a multiple of --heads 4"), r[1]);
        r = run(List.of("run", "-np", "1", "gpt", "--vocab", "100"));
        assertEquals("2", r[0], r[1]);
        assertTrue(r[1].contains("--vocab"), r[1]);
        r = run(List.of("run", "-np", "1", "gpt", "--bf16"));
        assertEquals("2", r[0], r[1]);
        assertTrue(r[1].contains("bf16 is not available: DJL 0.35.1's PyTorch engine has no bfloat16"), r[1]);
    }
}
