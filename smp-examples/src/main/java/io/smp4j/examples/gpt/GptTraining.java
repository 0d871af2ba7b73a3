package io.smp4j.examples.gpt;

import ai.djl.ndarray.NDManager;
import io.smp4j.comm.CommException;
import io.smp4j.core.Smp;
import io.smp4j.examples.resnet.ResNet18Training;
import java.util.List;

/**
 * The {@code gpt} example: a decoder-only transformer ({@link Gpt}) trained on byte-level text split across ranks,
 * with delayed initialisation: world rank 0 measures the model one transformer block at a time, and each rank then
 * allocates only its own stage. {@code ./smp run -np N gpt [options]}, or under mpirun; {@code --help} lists the
 * options ({@link GptOptions}).
 */
public final class GptTraining {
    private GptTraining() {
    }

    public static void main(String[] args) throws Exception {
        int rank = ResNet18Training.launchRank();
        GptOptions o;
        try {
            o = GptOptions.parse(List.of(args));
        } catch (IllegalArgumentException e) {
            if (rank == 0) {
                System.err.println("gpt: " + e.getMessage() + " (--help lists the options)");
            }
            System.exit(2);
            return;
        }
        if (o.usage != null) {
            if (rank == 0) {
                System.out.print(o.usage);
            }
            System.exit(0);
            return;
        }
        int code = 0;
        try (Smp smp = Smp.init(o.smp); NDManager manager = NDManager.newBaseManager(smp.device())) {
            new GptRun(smp, manager, o).train();
        } catch (IllegalArgumentException e) {
            // A configuration problem every rank finds alike (a model too large for its budget among them).
            if (rank == 0) {
                System.err.println("gpt: " + e.getMessage());
            }
            code = 2;
        } catch (CommException e) {
            System.err.println("gpt: rank " + rank + " stops: " + e.getMessage());
            code = 3;
        } catch (RuntimeException | Error e) {
            e.printStackTrace();
            code = 1;
        }
        System.out.flush();
        System.err.flush();
        Runtime.getRuntime().halt(code);
    }
}
