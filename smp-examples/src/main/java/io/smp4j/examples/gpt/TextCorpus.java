package io.smp4j.examples.gpt;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * Byte-level text for the {@code gpt} example: a file, or the license texts every Debian and Ubuntu ships
 * ({@code /usr/share/common-licenses}, English prose with much repetition: a loss that falls fast and visibly), or,
 * where neither exists, generated sentences. Batches are windows of {@code seqLen + 1} bytes at offsets drawn from the
 * seed and the step: the same on every rank; each data-parallel replica takes its rows of the global batch.
 */
final class TextCorpus {
    static final Path DEBIAN_LICENSES = Path.of("/usr/share/common-licenses");

    private final byte[] text;
    private final String source;

    private TextCorpus(byte[] text, String source) {
        this.text = text;
        this.source = source;
    }

    static TextCorpus open(Path file) {
        try {
            if (file != null) {
                return new TextCorpus(Files.readAllBytes(file), file.toString());
            }
            if (Files.isDirectory(DEBIAN_LICENSES)) {
                List<Path> files = new ArrayList<>();
                try (Stream<Path> s = Files.list(DEBIAN_LICENSES)) {
                    s.filter(Files::isRegularFile).sorted().forEach(files::add);
                }
                java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
                for (Path f : files) {
                    all.write(Files.readAllBytes(f));
                }
                if (all.size() > 0) {
                    return new TextCorpus(all.toByteArray(), DEBIAN_LICENSES + " (" + files.size() + " files)");
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the text " + (file == null ? DEBIAN_LICENSES : file), e);
        }
        return new TextCorpus(generated(), "generated sentences");
    }

    /** Sentences from a tiny grammar: structure a small model learns within steps. */
    private static byte[] generated() {
        String[] who = {"the cat", "a dog", "the pipeline", "every rank", "the model"};
        String[] what = {"sends", "receives", "trains", "splits", "reduces"};
        String[] whom = {"the gradients", "a microbatch", "the activations", "its stage", "the loss"};
        SplittableRandom r = new SplittableRandom(7);
        StringBuilder b = new StringBuilder();
        while (b.length() < 200_000) {
            b.append(who[r.nextInt(who.length)]).append(' ').append(what[r.nextInt(what.length)]).append(' ')
                    .append(whom[r.nextInt(whom.length)]).append(". ");
        }
        return b.toString().getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    }

    String source() {
        return source;
    }

    int size() {
        return text.length;
    }

    /**
     * Rows {@code [from, from + rows)} of step {@code step}'s global batch: token ids (rows, seqLen) and next-token
     * labels (rows, seqLen), int32.
     */
    NDList[] batch(NDManager manager, long seed, int step, int globalRows, int from, int rows, int seqLen) {
        if (text.length < seqLen + 2) {
            throw new IllegalArgumentException("the text " + source + " has " + text.length + " bytes, fewer than one "
                    + "sequence of --seq-len " + seqLen + " + 1");
        }
        SplittableRandom r = new SplittableRandom(seed * 1_000_003L + step);
        int[] x = new int[rows * seqLen];
        int[] y = new int[rows * seqLen];
        for (int i = 0; i < globalRows; i++) {
            int at = r.nextInt(text.length - seqLen - 1);
            if (i < from || i >= from + rows) {
                continue;
            }
            for (int t = 0; t < seqLen; t++) {
                x[(i - from) * seqLen + t] = text[at + t] & 0xff;
                y[(i - from) * seqLen + t] = text[at + t + 1] & 0xff;
            }
        }
        Shape s = new Shape(rows, seqLen);
        NDArray ids = manager.create(x, s);
        NDArray labels = manager.create(y, s);
        return new NDList[] {new NDList(ids), new NDList(labels)};
    }
}
