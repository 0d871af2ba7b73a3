package io.smp4j.examples.cli;

import io.smp4j.comm.launch.LocalLauncher;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * What every example's run takes besides its model (a picocli mixin): log lines, checkpoints and resuming, metrics,
 * and the pipeline timeline. {@link #check} refuses what does not fit together.
 */
public final class RunOptions {
    @Option(names = "--log-every", paramLabel = "K", converter = CommandLines.Positive.class,
            description = "a log line every K steps (default ${DEFAULT-VALUE})")
    public int logEvery = 5;
    @Option(names = "--checkpoint-dir", paramLabel = "DIR",
            description = "save a checkpoint there at the end of the run (and of every epoch, where there are epochs)")
    public Path checkpointDir;
    @Option(names = "--checkpoint-every", paramLabel = "K", converter = CommandLines.Positive.class,
            description = "also every K steps")
    public int checkpointEvery = 0;
    @Option(names = "--resume", description = "continue from the newest checkpoint in --checkpoint-dir")
    public boolean resume;
    @Option(names = "--metrics-json", paramLabel = "FILE", description = "write the run's metrics (rank 0)")
    public Path metricsJson;
    @Option(names = "--trace", paramLabel = "FILE",
            description = "write a Chrome trace of --trace-steps steps (and FILE's .svg picture)")
    public Path trace;
    @Option(names = "--trace-steps", paramLabel = "K", converter = CommandLines.Positive.class,
            description = "steps traced, after the first (default ${DEFAULT-VALUE})")
    public int traceSteps = 3;

    /** Refuses options that do not fit together, with a message for the user. */
    public void check() {
        if (resume && checkpointDir == null) {
            throw new IllegalArgumentException("--resume needs --checkpoint-dir DIR");
        }
        if (trace != null && !trace.getFileName().toString().endsWith(".json")) {
            throw new IllegalArgumentException("--trace names the Chrome trace file and must end in .json, got "
                    + trace + " (the SVG goes next to it)");
        }
    }

    /**
     * Whether to resume from {@code --checkpoint-dir}: asked for ({@code --resume}), or this is a restarted attempt
     * of the job ({@code ./smp run --max-restarts}) and a checkpoint is there.
     */
    public boolean resumeNow() {
        String attempt = System.getenv(LocalLauncher.RESTART_ENV);
        return resume || checkpointDir != null && attempt != null && !attempt.equals("0")
                && Files.exists(checkpointDir.resolve("latest"));
    }

    /** {@code trace.json} -> {@code trace.svg}. */
    public Path svg() {
        String name = trace.getFileName().toString();
        return trace.resolveSibling(name.substring(0, name.length() - ".json".length()) + ".svg");
    }
}
