package io.smp4j.examples.resnet;

import io.smp4j.core.SmpConfig;
import io.smp4j.examples.cli.CommandLines;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import io.smp4j.examples.cli.RunOptions;
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
    @Mixin
    RunOptions run = new RunOptions();
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
        o.run.check();
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
