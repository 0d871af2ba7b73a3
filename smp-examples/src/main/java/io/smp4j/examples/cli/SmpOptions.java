package io.smp4j.examples.cli;

import io.smp4j.core.SmpConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * The smp options every example takes (a picocli mixin): {@code --config smp.json} (SageMaker's
 * {@code modelparallel.parameters} dict, optionally with an {@code mpi} dict), then {@code --partitions},
 * {@code --microbatches}, {@code --pipeline}, {@code --ddp}, {@code --placement} override it.
 */
public final class SmpOptions {
    @Option(names = "--partitions", paramLabel = "P", converter = CommandLines.Positive.class,
            description = "pipeline stages (smp 'partitions')")
    Integer partitions;
    @Option(names = "--microbatches", paramLabel = "M", converter = CommandLines.Positive.class,
            description = "microbatches per step (smp 'microbatches')")
    Integer microbatches;
    @Option(names = "--pipeline", paramLabel = "simple|interleaved", description = "the pipeline schedule")
    String pipeline;
    @Option(names = "--ddp", description = "average gradients over data-parallel replicas (needed when N > P)")
    boolean ddp;
    @Option(names = "--placement", paramLabel = "cluster|spread", description = "rank layout (placement_strategy)")
    String placement;
    @Option(names = "--config", paramLabel = "FILE", converter = CommandLines.Existing.class,
            description = "smp config JSON (SageMaker keys); the options above override it")
    Path config;

    /**
     * The configuration: {@code --config}'s keys, then the options above, then {@code more} (an example's own keys,
     * null values left out). Every bad value is an {@link IllegalArgumentException} naming it.
     */
    public SmpConfig config(Map<String, Object> more) {
        Map<String, Object> merged = config == null ? new LinkedHashMap<>() : readConfig(config);
        put(merged, "partitions", partitions);
        put(merged, "microbatches", microbatches);
        put(merged, "pipeline", pipeline);
        put(merged, "placement_strategy", placement);
        if (ddp) {
            merged.put("ddp", true);
        }
        more.forEach((k, v) -> put(merged, k, v));
        return SmpConfig.fromMap(merged);
    }

    private static void put(Map<String, Object> m, String key, Object value) {
        if (value != null) {
            m.put(key, value);
        }
    }

    /** The JSON object of {@code file} as a map (nested objects, e.g. {@code mpi}, stay maps). */
    public static Map<String, Object> readConfig(Path file) {
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
}
