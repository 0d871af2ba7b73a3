package io.smp4j.examples.gpt;

import ai.djl.ndarray.NDManager;
import io.smp4j.core.Smp;
import io.smp4j.examples.cli.ExampleMain;

/**
 * The {@code gpt} example: a decoder-only transformer ({@link Gpt}) trained on byte-level text split across ranks,
 * with delayed initialisation: world rank 0 measures the model one transformer block at a time, and each rank then
 * allocates only its own stage. {@code ./smp run -np N gpt [options]}, or under mpirun; {@code --help} lists the
 * options ({@link GptOptions}).
 */
public final class GptTraining {
    private GptTraining() {
    }

    public static void main(String[] args) {
        ExampleMain.run("gpt", args, GptOptions::parse, o -> o.usage, o -> {
            try (Smp smp = Smp.init(o.smp); NDManager manager = NDManager.newBaseManager(smp.device())) {
                new GptRun(smp, manager, o).train();
            }
        });
    }
}
