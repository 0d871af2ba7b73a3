package io.smp4j.examples.resnet;

import io.smp4j.core.SmpConfig;
import io.smp4j.examples.cli.CommandLines;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import io.smp4j.examples.cli.SmpOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Options of the ResNet18 example; the smp configuration from {@link SmpOptions} ({@code --config}, {@code --partitions},
 * ...).
 * Every bad value is refused before any work starts, naming the option, the value and what is allowed.
 */
@Command(name = "resnet18", usageHelpWidth = 110, sortOptions = false,
        description = "ResNet18 image classification split over the ranks (pipeline stages x data-parallel "
                + "replicas). Usage: ./smp run -np N resnet18 [options], or under mpirun.")
public final class TrainOptions {
    @Mixin
    SmpOptions smpOptions = new SmpOptions();
    @Option(names = "--batch-size", paramLabel = "B", converter = CommandLines.Positive.class,
            description = "samples per data-parallel replica per step (default ${DEFAULT-VALUE})")
    int batchSize = 16;
    @Option(names = "--image-size", paramLabel = "S", converter = AtLeast16.class,
            description = "images are resized to S x S (default ${DEFAULT-VALUE})")
    int imageSize = 64;
    @Option(names = "--epochs", paramLabel = "E", converter = CommandLines.Positive.class,
            description = "passes over the training set (default ${DEFAULT-VALUE})")
    int epochs = 1;
    @Option(names = "--steps", paramLabel = "S", converter = CommandLines.Positive.class,
            description = "stop after S steps in all (default: the epochs' steps)")
    int steps = -1;
    @Option(names = "--lr", paramLabel = "LR", converter = CommandLines.PositiveFloat.class,
            description = "SGD learning rate, momentum 0.9 (default ${DEFAULT-VALUE})")
    float lr = 0.02f;
    @Option(names = "--seed", paramLabel = "SEED", converter = CommandLines.AnyLong.class,
            description = "initial model, data order and generated images (default ${DEFAULT-VALUE})")
    long seed = 42;
    @Option(names = "--data", paramLabel = "DIR", converter = CommandLines.Existing.class,
            description = "image folders DIR/train/<class>/*.jpg and DIR/val/<class>/*.jpg (hymenoptera_data "
                    + "layout); without it a two-class set is generated")
    Path data;
    @Option(names = "--generated-images", paramLabel = "N", converter = AtLeast8.class,
            description = "training images of the generated set (default ${DEFAULT-VALUE}; validation N/4)")
    int generatedImages = 320;
    @Option(names = "--prefetch", paramLabel = "K", converter = CommandLines.NonNegative.class,
            description = "batches read and decoded ahead by background threads (0: on the training thread, "
                    + "default ${DEFAULT-VALUE})")
    int prefetch = 2;
    @Option(names = "--loader-threads", paramLabel = "T", converter = CommandLines.Positive.class,
            description = "threads that read and decode images ahead (default ${DEFAULT-VALUE})")
    int loaderThreads = 2;
    @Option(names = "--log-every", paramLabel = "K", converter = CommandLines.Positive.class,
            description = "a log line every K steps (default ${DEFAULT-VALUE})")
    int logEvery = 5;
    @Option(names = "--checkpoint-dir", paramLabel = "DIR",
            description = "save a checkpoint there at the end of every epoch and of the run")
    Path checkpointDir;
    @Option(names = "--checkpoint-every", paramLabel = "K", converter = CommandLines.Positive.class,
            description = "also every K steps")
    int checkpointEvery = 0;
    @Option(names = "--resume", description = "continue from the newest checkpoint in --checkpoint-dir")
    boolean resume;
    @Option(names = "--metrics-json", paramLabel = "FILE", description = "write the run's metrics (rank 0)")
    Path metricsJson;
    @Option(names = "--trace", paramLabel = "FILE",
            description = "write a Chrome trace of --trace-steps steps (and FILE's .svg picture)")
    Path trace;
    @Option(names = "--trace-steps", paramLabel = "K", converter = CommandLines.Positive.class,
            description = "steps traced, after the first (default ${DEFAULT-VALUE})")
    int traceSteps = 3;
    @Option(names = "--no-eval", negatable = false, description = "skip validation")
    boolean noEval;
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "this help")
    boolean help;

    /** The merged smp configuration (after {@link #parse}). */
    SmpConfig smp;
    /** The help text, when {@code --help} was asked. */
    String usage;

    boolean eval() {
        return !noEval;
    }

    /** Image sizes below 16 leave nothing for ResNet18's downsampling. */
    public static final class AtLeast16 extends CommandLines.AtLeast {
        public AtLeast16() {
            super(16);
        }
    }

    /** The generated set needs a few images of each class. */
    public static final class AtLeast8 extends CommandLines.AtLeast {
        public AtLeast8() {
            super(8);
        }
    }

    /** Parses {@code args}; throws {@link IllegalArgumentException} with a message meant for the user. */
    static TrainOptions parse(List<String> args) {
        TrainOptions o = new TrainOptions();
        CommandLines.Parsed p = CommandLines.parse(o, args);
        if (p.help()) {
            o.usage = p.usage();
            return o;
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
        o.smp = o.smpOptions.config(Map.of());
        int micro = o.smp.microbatches();
        if (o.batchSize % micro != 0) {
            throw new IllegalArgumentException("--batch-size " + o.batchSize + " does not split into " + micro
                    + " microbatches; use a multiple of " + micro);
        }
        return o;
    }
}
