package io.smp4j.examples.resnet;

import ai.djl.basicdataset.cv.classification.AbstractImageFolder;
import ai.djl.modality.cv.transform.Normalize;
import ai.djl.modality.cv.transform.Resize;
import ai.djl.modality.cv.transform.ToTensor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.dataset.Record;
import ai.djl.translate.Pipeline;
import ai.djl.translate.TranslateException;
import ai.djl.util.Pair;
import ai.djl.util.PairList;
import ai.djl.util.Progress;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import javax.imageio.ImageIO;

/**
 * The example's images: an image-folder tree read with DJL's dataset tools (resized, converted to tensors, normalised
 * with ImageNet's mean and deviation), and a generated two-class set written as such a tree.
 */
final class ImageData {
    static final float[] MEAN = {0.485f, 0.456f, 0.406f};
    static final float[] STD = {0.229f, 0.224f, 0.225f};
    /** Classes of the generated set: bars across or bars down, on a noisy background. */
    static final String[] GENERATED_CLASSES = {"horizontal", "vertical"};

    private ImageData() {
    }

    /** DJL's {@code ImageFolder}, but with the images in sorted order (it lists them in file-system order). */
    static final class SortedImageFolder extends AbstractImageFolder {
        private final Path root;
        /** Resize, to tensor, normalise: applied per image (get() returns the raw image). */
        Pipeline transforms;

        private SortedImageFolder(Builder b) {
            super(b);
            this.root = b.root;
        }

        /** The file of image {@code index}. */
        String key(int index) {
            return items.get(index).getKey();
        }

        @Override
        protected Path getImagePath(String key) {
            return Paths.get(key);
        }

        @Override
        public void prepare(Progress progress) throws IOException {
            if (prepared) {
                return;
            }
            try (var dirs = Files.list(root)) {
                synset.addAll(dirs.filter(Files::isDirectory).map(d -> d.getFileName().toString())
                        .filter(n -> !n.startsWith(".")).sorted().toList());
            }
            if (synset.isEmpty()) {
                throw new IllegalArgumentException(root + " has no class folders");
            }
            listImages(root, synset);
            List<Pair<String, Integer>> sorted = new ArrayList<>();
            items.forEach(sorted::add);
            sorted.sort(Comparator.comparing((Pair<String, Integer> p) -> p.getValue()).thenComparing(Pair::getKey));
            items = new PairList<>(sorted);
            if (items.isEmpty()) {
                throw new IllegalArgumentException(root + " holds no images (.jpg, .jpeg, .png) in its class folders "
                        + synset);
            }
            prepared = true;
        }

        static final class Builder extends ImageFolderBuilder<Builder> {
            private Path root;

            Builder root(Path root) {
                this.root = root;
                return setRepositoryPath(root);
            }

            @Override
            protected Builder self() {
                return this;
            }

            SortedImageFolder build() {
                return new SortedImageFolder(this);
            }
        }
    }

    /** One split (train or val) of an image folder tree, ready to read. */
    static SortedImageFolder open(Path splitDir, int imageSize) throws IOException {
        SortedImageFolder.Builder b = new SortedImageFolder.Builder().root(splitDir);
        // Sampling is ours (seeded order, replica slices), not DJL's; the builder needs one all the same.
        b.setSampling(1, false);
        SortedImageFolder f = b.build();
        try {
            f.prepare();
        } catch (TranslateException e) {
            throw new IOException(e);
        }
        // Every image decodes, checked before any training work (a corrupt file would otherwise stop a run midway).
        for (int i = 0; i < f.size(); i++) {
            Path img = Path.of(f.key(i));
            BufferedImage decoded;
            try {
                decoded = ImageIO.read(img.toFile());
            } catch (IOException | RuntimeException e) {
                decoded = null;
            }
            if (decoded == null) {
                throw new IllegalArgumentException("image " + img + " cannot be read: not an image, or corrupt; "
                        + "remove or replace it");
            }
        }
        f.transforms = new Pipeline().add(new Resize(imageSize, imageSize)).add(new ToTensor())
                .add(new Normalize(MEAN, STD));
        return f;
    }

    /** Images {@code indices} as one batch: images [n, 3, S, S] and labels [n]. */
    static NDList[] batch(SortedImageFolder data, NDManager manager, int[] indices) throws IOException {
        NDList images = new NDList();
        NDList labels = new NDList();
        for (int i : indices) {
            Record r = data.get(manager, i);
            NDList t = data.transforms.transform(r.getData());
            images.add(t.head());
            labels.add(r.getLabels().head());
        }
        NDArray x = NDArrays.stack(images);
        NDArray y = NDArrays.stack(labels).reshape(-1);
        images.close();
        labels.close();
        return new NDList[] {new NDList(x), new NDList(y)};
    }

    /**
     * Writes the generated set under {@code dir}: {@code train/<class>/*.png} ({@code trainImages} in all) and
     * {@code val/<class>/*.png} (a quarter as many), 96 x 96, the same bytes for the same seed. Each image is a
     * noisy background with 3-6 bars of random colour, thickness and position, across (class horizontal) or down
     * (class vertical): a real visual difference, but not a trivial one (colours and brightness carry no signal).
     */
    static void generate(Path dir, long seed, int trainImages) throws IOException {
        int size = 96;
        for (String split : new String[] {"train", "val"}) {
            int n = split.equals("train") ? trainImages : Math.max(GENERATED_CLASSES.length, trainImages / 4);
            for (int i = 0; i < n; i++) {
                int cls = i % GENERATED_CLASSES.length;
                Path folder = dir.resolve(split).resolve(GENERATED_CLASSES[cls]);
                Files.createDirectories(folder);
                Random rnd = new Random(seed * 1_000_003L + (split.equals("train") ? 0 : 500_000) + i);
                BufferedImage img = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
                for (int y = 0; y < size; y++) {
                    for (int x = 0; x < size; x++) {
                        int g = 60 + rnd.nextInt(120);
                        img.setRGB(x, y, new Color(g, clamp(g + rnd.nextInt(40) - 20), clamp(g + rnd.nextInt(40)
                                - 20)).getRGB());
                    }
                }
                Graphics2D gfx = img.createGraphics();
                int bars = 3 + rnd.nextInt(4);
                for (int b = 0; b < bars; b++) {
                    gfx.setColor(new Color(rnd.nextInt(256), rnd.nextInt(256), rnd.nextInt(256)));
                    int thick = 4 + rnd.nextInt(8);
                    int at = rnd.nextInt(size - thick);
                    int from = rnd.nextInt(size / 3);
                    int len = size / 2 + rnd.nextInt(size / 2 - from + 1);
                    if (cls == 0) {
                        gfx.fillRect(from, at, len, thick);
                    } else {
                        gfx.fillRect(at, from, thick, len);
                    }
                }
                gfx.dispose();
                ImageIO.write(img, "png", folder.resolve(String.format("%s_%04d.png", split, i)).toFile());
            }
        }
    }

    private static int clamp(int v) {
        return Math.max(0, Math.min(255, v));
    }
}
