package io.smp4j.examples.gpt;

import io.smp4j.core.SmpConfig;
import io.smp4j.examples.cli.CommandLines;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import io.smp4j.examples.cli.RunOptions;
import io.smp4j.examples.cli.SmpOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Options of the {@code gpt} example: the model's shape, the data, and the smp options the {@code resnet18} example
 * has ({@code --config} JSON, then {@code --partitions}, {@code --microbatches}, ... override it).
 */
@Command(name = "gpt", usageHelpWidth = 110, sortOptions = false,
        description = "A decoder-only transformer (GPT) trained on byte-level text, split over the ranks with delayed "
                + "initialisation (no rank allocates the whole model). Usage: ./smp run -np N gpt [options].")
public final class GptOptions {
    @Option(names = "--layers", paramLabel = "L", converter = CommandLines.Positive.class,
            description = "transformer blocks (default ${DEFAULT-VALUE})")
    int layers = 4;
    @Option(names = "--hidden", paramLabel = "H", converter = CommandLines.Positive.class,
            description = "model width (default ${DEFAULT-VALUE})")
    int hidden = 64;
    @Option(names = "--heads", paramLabel = "A", converter = CommandLines.Positive.class,
            description = "attention heads; must divide --hidden (default ${DEFAULT-VALUE})")
    int heads = 4;
    @Option(names = "--seq-len", paramLabel = "T", converter = CommandLines.Positive.class,
            description = "tokens per sequence (default ${DEFAULT-VALUE})")
    int seqLen = 64;
    @Option(names = "--vocab", paramLabel = "V", converter = AtLeast256.class,
            description = "vocabulary size; tokens are bytes, so at least 256 (default ${DEFAULT-VALUE})")
    int vocab = 256;
    @Mixin
    SmpOptions smpOptions = new SmpOptions();
    @Mixin
    RunOptions run = new RunOptions();
    @Option(names = "--bf16", description = "bfloat16 parameters, activations and messages; fp32 master weights")
    boolean bf16;
    @Option(names = "--fp16", description = "float16 likewise, with dynamic loss scaling")
    boolean fp16;
    @Option(names = "--trace-device", paramLabel = "gpu|cpu", description = "where partitioning measures the model")
    String traceDevice;
    @Option(names = "--memory-budget-mb", paramLabel = "MB", converter = CommandLines.PositiveFloat.class,
            description = "the most memory one rank's stage may need (smp 'memory_budget_mb')")
    Float memoryBudgetMb;
    @Option(names = "--batch-size", paramLabel = "B", converter = CommandLines.Positive.class,
            description = "sequences per data-parallel replica per step (default ${DEFAULT-VALUE})")
    int batchSize = 8;
    @Option(names = "--steps", paramLabel = "S", converter = CommandLines.Positive.class,
            description = "training steps (default ${DEFAULT-VALUE})")
    int steps = 30;
    @Option(names = "--lr", paramLabel = "LR", converter = CommandLines.PositiveFloat.class,
            description = "Adam learning rate (default ${DEFAULT-VALUE})")
    float lr = 0.001f;
    @Option(names = "--seed", paramLabel = "SEED", converter = CommandLines.AnyLong.class,
            description = "initial model and data order (default ${DEFAULT-VALUE})")
    long seed = 42;
    @Option(names = "--text", paramLabel = "FILE", converter = CommandLines.Existing.class,
            description = "train on this file's bytes (default: /usr/share/common-licenses, else generated text)")
    Path text;
    @Option(names = "--eager-init", description = "initialise the whole model on every rank first (no delayed "
            + "initialisation; for comparison)")
    boolean eagerInit;
    @Option(names = "--cuda-profile-step", paramLabel = "N", converter = CommandLines.NonNegative.class,
            description = "run step N (from 1) inside a CUDA profiler range, for ncu --profile-from-start off (0: none)")
    int cudaProfileStep;
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "this help")
    boolean help;

    SmpConfig smp;
    /** The model's shape (after {@link #parse}). */
    Gpt.Config shape;
    String usage;

    /** Byte-level tokens need all 256 ids. */
    public static final class AtLeast256 extends CommandLines.AtLeast {
        public AtLeast256() {
            super(256);
        }
    }

    static GptOptions parse(List<String> args) {
        GptOptions o = new GptOptions();
        CommandLines.Parsed p = CommandLines.parse(o, args);
        if (p.help()) {
            o.usage = p.usage();
            return o;
        }
        o.run.check();
        o.shape = new Gpt.Config(o.layers, o.hidden, o.heads, o.seqLen, o.vocab); // checks --hidden against --heads
        Map<String, Object> own = new LinkedHashMap<>();
        own.put("trace_device", o.traceDevice);
        own.put("memory_budget_mb", o.memoryBudgetMb);
        own.put("bf16", o.bf16 ? Boolean.TRUE : null);
        own.put("fp16", o.fp16 ? Boolean.TRUE : null);
        o.smp = o.smpOptions.config(own);
        int micro = o.smp.microbatches();
        if (o.batchSize % micro != 0) {
            throw new IllegalArgumentException("--batch-size " + o.batchSize + " does not split into " + micro
                    + " microbatches; use a multiple of " + micro);
        }
        return o;
    }
}
