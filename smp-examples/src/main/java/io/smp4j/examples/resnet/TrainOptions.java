package io.smp4j.examples.resnet;

import io.smp4j.core.SmpConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Options of the ResNet18 example. The smp configuration comes from {@code --config smp.json} (SageMaker's
 * {@code modelparallel.parameters} dict, optionally with an {@code mpi} dict), then the command-line options
 * {@code --partitions}, {@code --microbatches}, {@code --pipeline}, {@code --ddp}, {@code --placement} override it.
 * Every bad value is refused before any work starts, naming the option, the value and what is allowed.
 */
public final class TrainOptions {
    static final String USAGE = """
            usage: ./smp run -np N resnet18 [options]
              --partitions P          pipeline stages (smp 'partitions')
              --microbatches M        microbatches per step (smp 'microbatches')
              --pipeline simple|interleaved
              --ddp                   average gradients over data-parallel replicas (needed when N > P)
              --placement cluster|spread
              --config FILE           smp config JSON (SageMaker keys); the options above override it
              --batch-size B          samples per data-parallel replica per step (default 16)
              --image-size S          images are resized to S x S (default 64)
              --epochs E              passes over the training set (default 1)
              --steps S               stop after S steps in all (default: the epochs' steps)
              --lr LR                 SGD learning rate (default 0.02; momentum 0.9)
              --seed SEED             initial model, data order and generated images (default 42)
              --data DIR              image folder tree DIR/train/<class>/*.jpg and DIR/val/<class>/*.jpg
                                      (hymenoptera_data layout); without it a two-class set is generated
              --generated-images N    training images of the generated set (default 320; validation N/4)
              --log-every K           a log line every K steps (default 5)
              --checkpoint-dir DIR    save a checkpoint there at the end of every epoch and of the run
              --checkpoint-every K    also every K steps
              --resume                continue from the newest checkpoint in --checkpoint-dir
              --metrics-json FILE     write the run's metrics (rank 0)
              --trace FILE            write a Chrome trace of --trace-steps steps (and FILE's .svg picture)
              --trace-steps K         steps traced, after the first (default 3)
              --no-eval               skip validation
            """;

    SmpConfig smp;
    int batchSize = 16;
    int imageSize = 64;
    int epochs = 1;
    int steps = -1;
    float lr = 0.02f;
    long seed = 42;
    Path data;
    int generatedImages = 320;
    int logEvery = 5;
    Path checkpointDir;
    int checkpointEvery = 0;
    boolean resume;
    Path metricsJson;
    Path trace;
    int traceSteps = 3;
    boolean eval = true;

    /** Parses {@code args}; throws {@link IllegalArgumentException} with a message meant for the user. */
    static TrainOptions parse(List<String> args) {
        TrainOptions o = new TrainOptions();
        Map<String, Object> smp = new LinkedHashMap<>();
        Path config = null;
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            switch (a) {
                case "--ddp" -> smp.put("ddp", true);
                case "--resume" -> o.resume = true;
                case "--no-eval" -> o.eval = false;
                case "--help", "-h" -> throw new IllegalArgumentException("help");
                default -> {
                    if (!a.startsWith("--")) {
                        throw new IllegalArgumentException("unexpected argument '" + a + "'");
                    }
                    if (i + 1 >= args.size()) {
                        throw new IllegalArgumentException("option " + a + " needs a value");
                    }
                    String v = args.get(++i);
                    switch (a) {
                        case "--partitions" -> smp.put("partitions", positive(a, v));
                        case "--microbatches" -> smp.put("microbatches", positive(a, v));
                        case "--pipeline" -> smp.put("pipeline", v);
                        case "--placement" -> smp.put("placement_strategy", v);
                        case "--config" -> config = existing(a, v);
                        case "--batch-size" -> o.batchSize = positive(a, v);
                        case "--image-size" -> o.imageSize = atLeast(a, v, 16);
                        case "--epochs" -> o.epochs = positive(a, v);
                        case "--steps" -> o.steps = positive(a, v);
                        case "--lr" -> o.lr = positiveFloat(a, v);
                        case "--seed" -> o.seed = longValue(a, v);
                        case "--data" -> o.data = existing(a, v);
                        case "--generated-images" -> o.generatedImages = atLeast(a, v, 8);
                        case "--log-every" -> o.logEvery = positive(a, v);
                        case "--checkpoint-dir" -> o.checkpointDir = Path.of(v);
                        case "--checkpoint-every" -> o.checkpointEvery = positive(a, v);
                        case "--metrics-json" -> o.metricsJson = Path.of(v);
                        case "--trace" -> o.trace = Path.of(v);
                        case "--trace-steps" -> o.traceSteps = positive(a, v);
                        default -> throw new IllegalArgumentException("unknown option " + a);
                    }
                }
            }
        }
        if (o.resume && o.checkpointDir == null) {
            throw new IllegalArgumentException("--resume needs --checkpoint-dir DIR");
        }
        if (o.trace != null && !o.trace.getFileName().toString().endsWith(".json")) {
            throw new IllegalArgumentException("--trace names the Chrome trace file and must end in .json, got "
                    + o.trace + " (the SVG goes next to it)");
        }
        if (o.data != null) {
            for (String split : new String[] {"train", "val"}) {
                if (!Files.isDirectory(o.data.resolve(split))) {
                    throw new IllegalArgumentException("--data " + o.data + " has no '" + split + "' folder; expected "
                            + "DIR/train/<class>/*.jpg and DIR/val/<class>/*.jpg (the hymenoptera_data layout)");
                }
            }
        }
        Map<String, Object> merged = config == null ? new LinkedHashMap<>() : readConfig(config);
        merged.putAll(smp);
        o.smp = SmpConfig.fromMap(merged);
        int micro = o.smp.microbatches();
        if (o.batchSize % micro != 0) {
            throw new IllegalArgumentException("--batch-size " + o.batchSize + " does not split into " + micro
                    + " microbatches; use a multiple of " + micro);
        }
        return o;
    }

    /** The JSON object of {@code file} as a map (nested objects, e.g. {@code mpi}, stay maps). */
    static Map<String, Object> readConfig(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read --config " + file + ": " + e.getMessage(), e);
        }
        try {
            return SmpConfig.jsonToMap(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--config " + file + ": " + e.getMessage(), e);
        }
    }

    private static int positive(String opt, String v) {
        return atLeast(opt, v, 1);
    }

    private static int atLeast(String opt, String v, int min) {
        int n;
        try {
            n = Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(opt + " needs a whole number >= " + min + ", got '" + v + "'");
        }
        if (n < min) {
            throw new IllegalArgumentException(opt + " must be at least " + min + ", got " + n);
        }
        return n;
    }

    private static float positiveFloat(String opt, String v) {
        float f;
        try {
            f = Float.parseFloat(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(opt + " needs a number > 0, got '" + v + "'");
        }
        if (!(f > 0) || Float.isInfinite(f)) {
            throw new IllegalArgumentException(opt + " must be a number > 0, got " + v);
        }
        return f;
    }

    private static long longValue(String opt, String v) {
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(opt + " needs a whole number, got '" + v + "'");
        }
    }

    private static Path existing(String opt, String v) {
        Path p = Path.of(v);
        if (!Files.exists(p)) {
            throw new IllegalArgumentException(opt + " " + v + ": no such file or directory");
        }
        return p;
    }
}
