package io.smp4j.examples.bench;

import ai.djl.basicmodelzoo.cv.classification.ResNetV1;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.ParallelBlock;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.nn.pooling.Pool;
import java.util.List;

/**
 * The models the benchmarks train. {@code resnet18} is the standard ResNet18 of He et al. with torchvision's layout
 * (7x7/2 stem, max-pool, 4 stages of 2 basic blocks of 64/128/256/512 channels, 1x1/2 projection shortcuts, global
 * average pool, linear): 11.18 M parameters with 10 classes, the same architecture as
 * {@code torchvision.models.resnet18(num_classes=10)}, so that it can be compared with PyTorch side by side.
 * {@code djl-resnet18} is DJL's {@code ResNetV1} with 18 layers, which is much narrower (0.90 M parameters).
 * Both are a {@link SequentialBlock} of top-level units, as the partitioner needs.
 */
public final class ResNets {
    private ResNets() {
    }

    public static Block build(String name, int imageSize, int classes) {
        return switch (name) {
            case "resnet18" -> resnet18(classes);
            case "djl-resnet18" -> ResNetV1.builder().setImageShape(new Shape(3, imageSize, imageSize))
                    .setNumLayers(18).setOutSize(classes).build();
            default -> throw new IllegalArgumentException("unknown model '" + name
                    + "'; allowed: resnet18, djl-resnet18");
        };
    }

    /** torchvision's ResNet18 layout. */
    public static SequentialBlock resnet18(int classes) {
        SequentialBlock net = new SequentialBlock();
        net.add(conv(64, 7, 2, 3));
        net.add(BatchNorm.builder().build());
        net.add(Activation.reluBlock());
        net.add(Pool.maxPool2dBlock(new Shape(3, 3), new Shape(2, 2), new Shape(1, 1)));
        int in = 64;
        for (int width : new int[] {64, 128, 256, 512}) {
            for (int b = 0; b < 2; b++) {
                int stride = b == 0 && width != 64 ? 2 : 1;
                net.add(basicBlock(width, stride, in != width || stride != 1));
                in = width;
            }
        }
        net.add(Pool.globalAvgPool2dBlock());
        net.add(Blocks.batchFlattenBlock());
        net.add(Linear.builder().setUnits(classes).build());
        return net;
    }

    private static Block basicBlock(int width, int stride, boolean project) {
        SequentialBlock main = new SequentialBlock()
                .add(conv(width, 3, stride, 1))
                .add(BatchNorm.builder().build())
                .add(Activation.reluBlock())
                .add(conv(width, 3, 1, 1))
                .add(BatchNorm.builder().build());
        SequentialBlock shortcut = new SequentialBlock();
        if (project) {
            shortcut.add(conv(width, 1, stride, 0)).add(BatchNorm.builder().build());
        } else {
            shortcut.add(Blocks.identityBlock());
        }
        return new SequentialBlock()
                .add(new ParallelBlock(list -> new NDList(list.get(0).head().add(list.get(1).head())),
                        List.of(main, shortcut)))
                .add(Activation.reluBlock());
    }

    private static Conv2d conv(int filters, int kernel, int stride, int pad) {
        return Conv2d.builder().setFilters(filters).setKernelShape(new Shape(kernel, kernel))
                .optStride(new Shape(stride, stride)).optPadding(new Shape(pad, pad)).optBias(false).build();
    }
}
