package io.smp4j.examples.resnet;

import ai.djl.ndarray.NDManager;
import io.smp4j.comm.CommException;
import io.smp4j.comm.launch.LaunchInfo;
import io.smp4j.core.FileTrees;
import io.smp4j.core.Smp;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The main job: ResNet18 image classification split across ranks, pipeline stages x data-parallel replicas, as the
 * SageMaker example trains it on hymenoptera_data (ants vs bees). {@code ./smp run -np N resnet18 [options]}, or
 * the same program under {@code mpirun}; {@code --help} lists the options ({@link TrainOptions}).
 *
 * <p>Data-parallel replica r of R takes the r-th contiguous slice of each global batch; the initial model, the
 * sample order and the generated images depend only on the seed, so any two layouts of one job train the same model
 * (up to float re-association).
 */
public final class ResNet18Training {
    private ResNet18Training() {
    }

    public static void main(String[] args) throws Exception {
        int rank = launchRank();
        TrainOptions o;
        try {
            o = TrainOptions.parse(List.of(args));
        } catch (IllegalArgumentException e) {
            // Every rank parses the same arguments: one message is enough.
            if (rank == 0) {
                System.err.println("resnet18: " + e.getMessage() + " (--help lists the options)");
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
        Path generated = null;
        try (Smp smp = Smp.init(o.smp); NDManager manager = NDManager.newBaseManager(smp.device())) {
            Path data = o.data;
            if (data == null) {
                generated = Files.createTempDirectory("smp4j-images-");
                ImageData.generate(generated, o.seed, o.generatedImages);
                data = generated;
            }
            TrainingRun run = new TrainingRun(smp, manager, o, data);
            run.train();
        } catch (IllegalArgumentException e) {
            // A configuration problem every rank finds alike: one message is enough.
            if (rank == 0) {
                System.err.println("resnet18: " + e.getMessage());
            }
            code = 2;
        } catch (CommException e) {
            // A lost or silent peer (timeout, closed connection): say which, and leave at once. Closing the
            // communicator would wait on the very peer that is gone.
            System.err.println("resnet18: rank " + rank + " stops: " + e.getMessage());
            code = 3;
        } catch (RuntimeException | Error e) {
            e.printStackTrace();
            code = 1;
        } finally {
            FileTrees.delete(generated);
        }
        System.out.flush();
        System.err.flush();
        // halt, not exit: MPJ's threads and shutdown hooks must not keep a failed rank alive.
        Runtime.getRuntime().halt(code);
    }

    /** This process's rank from the launcher's environment; 0 when it is unusable (Smp.init then says why). */
    public static int launchRank() {
        try {
            return LaunchInfo.fromEnvironment(System.getenv()).rank();
        } catch (IllegalArgumentException e) {
            return 0;
        }
    }
}
