package io.smp4j.examples.resnet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainOptionsTest {
    private static String error(String... args) {
        return assertThrows(IllegalArgumentException.class, () -> TrainOptions.parse(List.of(args))).getMessage();
    }

    @Test
    void commandLineOverridesTheConfigFile(@TempDir Path dir) throws Exception {
        Path cfg = dir.resolve("smp.json");
        Files.writeString(cfg, "{\"partitions\": 4, \"microbatches\": 8, \"pipeline\": \"simple\", "
                + "\"optimize\": \"speed\", \"mpi\": {\"processes_per_host\": 4}}");
        TrainOptions o = TrainOptions.parse(List.of("--config", cfg.toString(), "--partitions", "2", "--ddp",
                "--batch-size", "32", "--steps", "7", "--lr", "0.1", "--seed", "3"));
        assertEquals(2, o.smp.partitions());
        assertEquals(8, o.smp.microbatches());
        assertEquals("simple", o.smp.pipeline());
        assertEquals("speed", o.smp.optimize());
        assertEquals(true, o.smp.ddp());
        assertEquals(4, o.smp.processesPerHost());
        assertEquals(32, o.batchSize);
        assertEquals(7, o.steps);
        assertEquals(0.1f, o.lr);
        assertEquals(3, o.seed);
    }

    @Test
    void defaults() {
        TrainOptions o = TrainOptions.parse(List.of());
        assertEquals(16, o.batchSize);
        assertEquals(64, o.imageSize);
        assertEquals(1, o.epochs);
        assertEquals(-1, o.steps);
        assertEquals("interleaved", o.smp.pipeline());
        assertEquals(1, o.smp.partitions());
    }

    @Test
    void badValuesAreNamed(@TempDir Path dir) throws Exception {
        assertEquals("--batch-size needs a whole number >= 1, got 'x'", error("--batch-size", "x"));
        assertEquals("--batch-size must be at least 1, got 0", error("--batch-size", "0"));
        assertEquals("--image-size must be at least 16, got 8", error("--image-size", "8"));
        assertEquals("--lr must be a number > 0, got -1", error("--lr", "-1"));
        assertEquals("option --steps needs a value", error("--steps"));
        assertEquals("unknown option --step; did you mean --steps?", error("--step", "3"));
        assertEquals("unexpected argument 'foo'", error("foo"));
        assertEquals("--resume needs --checkpoint-dir DIR", error("--resume"));
        assertEquals("--trace names the Chrome trace file and must end in .json, got t.svg (the SVG goes next to "
                + "it)", error("--trace", "t.svg"));
        assertEquals("--batch-size 6 does not split into 4 microbatches; use a multiple of 4",
                error("--microbatches", "4", "--batch-size", "6"));
        assertEquals("--data " + dir + " has no 'train' folder; expected DIR/train/<class>/*.jpg and "
                + "DIR/val/<class>/*.jpg (the hymenoptera_data layout)", error("--data", dir.toString()));
        assertEquals("--data /no/such: no such file or directory", error("--data", "/no/such"));
        // smp's own validation, through the merged config.
        assertEquals("--lr needs a number > 0, got 'fast'", error("--lr", "fast"));
        assertEquals("--seed needs a whole number, got '1.5'", error("--seed", "1.5"));
        assertEquals("pipeline must be one of interleaved, simple; got \"fast\"",
                error("--pipeline", "fast").replaceAll("\\s+$", ""));
        Path cfg = dir.resolve("smp.json");
        Files.writeString(cfg, "{\"microbatch\": 2}");
        org.junit.jupiter.api.Assertions.assertTrue(error("--config", cfg.toString())
                .startsWith("unknown smp config key 'microbatch': did you mean 'microbatches'?"));
        Files.writeString(cfg, "[1]");
        assertEquals("--config " + cfg + ": the smp config must be a JSON object such as {\"partitions\": 2}, got "
                + "[1]", error("--config", cfg.toString()));
    }

    @Test
    void generatedImagesAreDeterministicAndReadableInSortedOrder(@TempDir Path dir) throws Exception {
        ImageData.generate(dir.resolve("a"), 5, 8);
        ImageData.generate(dir.resolve("b"), 5, 8);
        ImageData.generate(dir.resolve("c"), 6, 8);
        Path f = Path.of("train", "vertical", "train_0003.png");
        assertEquals(-1L, Files.mismatch(dir.resolve("a").resolve(f), dir.resolve("b").resolve(f)));
        org.junit.jupiter.api.Assertions.assertNotEquals(-1L, Files.mismatch(dir.resolve("a").resolve(f),
                dir.resolve("c").resolve(f)));
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager()) {
            ImageData.SortedImageFolder train = ImageData.open(dir.resolve("a").resolve("train"), 32);
            assertEquals(List.of("horizontal", "vertical"), train.getSynset());
            assertEquals(8, train.size());
            ai.djl.ndarray.NDList[] b = ImageData.batch(train, m, new int[] {0, 7});
            assertEquals(new ai.djl.ndarray.types.Shape(2, 3, 32, 32), b[0].head().getShape());
            // Sorted by class, then name: index 0 is the first horizontal image, 7 the last vertical one.
            assertEquals(0L, b[1].head().getLong(0));
            assertEquals(1L, b[1].head().getLong(1));
        }
    }

    /** A hymenoptera-style tree of .jpg files (JPEG, not PNG) reads the same way. */
    @Test
    void jpegImageFolders(@TempDir Path dir) throws Exception {
        for (String cls : new String[] {"ants", "bees"}) {
            Path folder = dir.resolve("train").resolve(cls);
            Files.createDirectories(folder);
            for (int i = 0; i < 3; i++) {
                java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(40, 30,
                        java.awt.image.BufferedImage.TYPE_INT_RGB);
                img.setRGB(i, i, 0xff8800);
                javax.imageio.ImageIO.write(img, "jpg", folder.resolve(cls + i + ".jpg").toFile());
            }
        }
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager()) {
            ImageData.SortedImageFolder train = ImageData.open(dir.resolve("train"), 24);
            assertEquals(List.of("ants", "bees"), train.getSynset());
            ai.djl.ndarray.NDList[] b = ImageData.batch(train, m, new int[] {5, 0});
            assertEquals(new ai.djl.ndarray.types.Shape(2, 3, 24, 24), b[0].head().getShape());
            assertEquals(1L, b[1].head().getLong(0));
            assertEquals(0L, b[1].head().getLong(1));
        }
    }

    /** Bad data is refused when the data is opened, before any training. */
    @Test
    void corruptImagesAndEmptyFoldersAreRefused(@TempDir Path dir) throws Exception {
        ImageData.generate(dir.resolve("ok"), 1, 4);
        Path bad = dir.resolve("ok").resolve("train").resolve("vertical").resolve("train_0001.png");
        Files.write(bad, new byte[] {(byte) 0x89, 'P', 'N', 'G', 0, 1, 2});
        assertEquals("image " + bad + " cannot be read: not an image, or corrupt; remove or replace it",
                assertThrows(IllegalArgumentException.class, () -> ImageData.open(dir.resolve("ok").resolve("train"),
                        32)).getMessage());
        Files.createDirectories(dir.resolve("empty").resolve("ants"));
        Files.createDirectories(dir.resolve("empty").resolve("bees"));
        assertEquals(dir.resolve("empty") + " holds no images (.jpg, .jpeg, .png) in its class folders [ants, bees]",
                assertThrows(IllegalArgumentException.class, () -> ImageData.open(dir.resolve("empty"), 32))
                        .getMessage());
        Files.createDirectories(dir.resolve("none"));
        assertEquals(dir.resolve("none") + " has no class folders", assertThrows(IllegalArgumentException.class,
                () -> ImageData.open(dir.resolve("none"), 32)).getMessage());
    }
}
