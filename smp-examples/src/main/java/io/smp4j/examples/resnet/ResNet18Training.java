package io.smp4j.examples.resnet;

import ai.djl.ndarray.NDManager;
import io.smp4j.core.FileTrees;
import io.smp4j.core.Smp;
import io.smp4j.examples.cli.ExampleMain;
import java.nio.file.Files;
import java.nio.file.Path;

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

    public static void main(String[] args) {
        ExampleMain.run("resnet18", args, TrainOptions::parse, o -> o.usage, ResNet18Training::train);
    }

    private static void train(TrainOptions o) throws Exception {
        Path generated = null;
        try (Smp smp = Smp.init(o.smp); NDManager manager = NDManager.newBaseManager(smp.device())) {
            Path data = o.data;
            if (data == null) {
                generated = Files.createTempDirectory("smp4j-images-");
                ImageData.generate(generated, o.seed, o.generatedImages);
                data = generated;
            }
            new TrainingRun(smp, manager, o, data).train();
        } finally {
            FileTrees.delete(generated);
        }
    }
}
