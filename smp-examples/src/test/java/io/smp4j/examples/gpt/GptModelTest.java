package io.smp4j.examples.gpt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The gpt example's transformer itself, in one process: GPT-2's parameters, and causal. */
class GptModelTest {
    private static final Gpt.Config SHAPE = new Gpt.Config(2, 32, 2, 16, 256);

    @Test
    void hasGpt2sParametersAndNoPositionSeesALaterToken() {
        try (NDManager m = NDManager.newBaseManager()) {
            Block gpt = Gpt.build(SHAPE);
            gpt.initialize(m, DataType.FLOAT32, new Shape(2, SHAPE.seqLen()));
            long count = 0;
            for (Pair<String, Parameter> p : gpt.getParameters()) {
                count += p.getValue().getArray().size();
                if (p.getKey().contains("LayerNorm") || p.getKey().contains("ln")) {
                    // gamma and beta per feature, as GPT-2's LayerNorm (DJL's default: per position and feature)
                    assertEquals(new Shape(SHAPE.hidden()), p.getValue().getArray().getShape(), p.getKey());
                }
            }
            assertEquals(SHAPE.parameters(), count, "parameters of the built model against the formula");
            int[] ids = new int[2 * SHAPE.seqLen()];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = (i * 37 + 11) % SHAPE.vocab();
            }
            float[] before = logits(gpt, m, ids);
            int last = SHAPE.seqLen() - 1;
            ids[last] = (ids[last] + 1) % SHAPE.vocab(); // the first sequence's last token
            ids[SHAPE.seqLen() + 3] = (ids[SHAPE.seqLen() + 3] + 1) % SHAPE.vocab(); // the second's fourth
            float[] after = logits(gpt, m, ids);
            int v = SHAPE.vocab();
            // Sequence 0: positions before its last equal; sequence 1: positions 0..2 equal, 3 changed.
            assertArrayEquals(Arrays.copyOfRange(before, 0, last * v), Arrays.copyOfRange(after, 0, last * v), 1e-6f);
            int s1 = SHAPE.seqLen() * v;
            assertArrayEquals(Arrays.copyOfRange(before, s1, s1 + 3 * v), Arrays.copyOfRange(after, s1, s1 + 3 * v),
                    1e-6f);
            assertTrue(!Arrays.equals(Arrays.copyOfRange(before, s1 + 3 * v, s1 + 4 * v),
                    Arrays.copyOfRange(after, s1 + 3 * v, s1 + 4 * v)), "a changed token changes its own position");
        }
    }

    private static float[] logits(Block gpt, NDManager m, int[] ids) {
        try (NDManager scope = m.newSubManager()) {
            NDArray x = scope.create(ids, new Shape(2, SHAPE.seqLen()));
            return gpt.forward(new ParameterStore(scope, false), new NDList(x), false).head().toFloatArray();
        }
    }
}
