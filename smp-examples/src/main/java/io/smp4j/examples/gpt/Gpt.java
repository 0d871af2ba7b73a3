package io.smp4j.examples.gpt;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.NormalInitializer;
import ai.djl.util.PairList;

/**
 * A decoder-only transformer (GPT-2's layout, pre-LayerNorm) from DJL blocks: token and position embeddings, {@code
 * layers} blocks of causal self-attention and an MLP (each behind a LayerNorm, each with a residual connection), a final
 * LayerNorm and a language-model head. A {@link SequentialBlock} of {@code layers + 2} children, so that the pipeline
 * cuts it between whole transformer blocks. Input: token ids (batch, seq) of any integer type; output: logits (batch,
 * seq, vocab). About {@code 12 x layers x hidden^2} parameters. Initialised as GPT-2: weights from N(0, 0.02), the
 * projections that write into the residual stream from N(0, 0.02 / sqrt(2 x layers)), so that a deep stack starts
 * with a residual stream that does not grow with depth; biases 0, LayerNorm 1 and 0.
 */
public final class Gpt {
    private Gpt() {
    }

    /** The model's shape. */
    public record Config(int layers, int hidden, int heads, int seqLen, int vocab) {
        public Config {
            if (hidden % heads != 0) {
                throw new IllegalArgumentException("--hidden " + hidden + " is not a multiple of --heads " + heads);
            }
        }

        /** Parameters of the model (weights and biases). */
        public long parameters() {
            long h = hidden;
            long layer = 4 * h + (3 * h * h + 3 * h) + (h * h + h) + (4 * h * h + 4 * h) + (4 * h * h + h);
            return (long) vocab * h + (long) seqLen * h + layers * layer + 2 * h + h * vocab + vocab;
        }
    }

    /**
     * GPT's LayerNorm: over each position's features (the last axis of batch x positions x features). DJL's default
     * normalises over every axis but the batch's, here all positions of a sequence at once: statistics that mix later
     * tokens into earlier positions (no longer causal), gamma and beta per position and feature, and a kernel with one
     * row per sequence (on an H100, 35 times PyTorch's time for GPT-2 small's LayerNorms).
     */
    static LayerNorm perPosition() {
        return LayerNorm.builder().axis(2).build();
    }

    public static SequentialBlock build(Config c) {
        SequentialBlock model = new SequentialBlock();
        model.add(new Embeddings(c.vocab(), c.seqLen(), c.hidden()));
        float residual = (float) (0.02 / Math.sqrt(2.0 * c.layers()));
        for (int i = 0; i < c.layers(); i++) {
            model.add(new TransformerLayer(c.hidden(), c.heads(), residual));
        }
        Block head = Linear.builder().setUnits(c.vocab()).build();
        head.setInitializer(new NormalInitializer(0.02f), Parameter.Type.WEIGHT);
        model.add(new SequentialBlock().add(perPosition()).add(head));
        return model;
    }

    /** Token embedding + learned position embedding. */
    static final class Embeddings extends AbstractBlock {
        private final Parameter tokens;
        private final Parameter positions;
        private final int seqLen;

        Embeddings(int vocab, int seqLen, int hidden) {
            this.seqLen = seqLen;
            tokens = addParameter(Parameter.builder().setName("tokens").setType(Parameter.Type.WEIGHT)
                    .optInitializer(new NormalInitializer(0.02f)).optShape(new Shape(vocab, hidden)).build());
            positions = addParameter(Parameter.builder().setName("positions").setType(Parameter.Type.WEIGHT)
                    .optInitializer(new NormalInitializer(0.02f)).optShape(new Shape(seqLen, hidden)).build());
        }

        @Override
        protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training,
                                         PairList<String, Object> params) {
            NDArray ids = inputs.head();
            long t = ids.getShape().get(1);
            if (t > seqLen) {
                throw new IllegalArgumentException("sequences of " + t + " tokens, the model's --seq-len is " + seqLen);
            }
            NDArray tok = Embedding.embedding(ids.toType(DataType.INT64, false),
                    ps.getValue(tokens, ids.getDevice(), training), SparseFormat.DENSE).head();
            NDArray pos = ps.getValue(positions, ids.getDevice(), training).get("0:" + t);
            return new NDList(tok.add(pos));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return new Shape[] {inputShapes[0].add(tokens.getShape().get(1))};
        }
    }

    /** x + attention(LN(x)), then x + MLP(LN(x)); causal multi-head self-attention, GELU MLP of 4 x hidden. */
    static final class TransformerLayer extends AbstractBlock {
        private final int heads;
        private final Block ln1;
        private final Block qkv;
        private final Block proj;
        private final Block ln2;
        private final Block up;
        private final Block down;
        private final Constants constants = new Constants();

        TransformerLayer(int hidden, int heads, float residualStd) {
            this.heads = heads;
            ln1 = addChildBlock("ln1", perPosition());
            qkv = addChildBlock("qkv", Linear.builder().setUnits(3L * hidden).build());
            proj = addChildBlock("proj", Linear.builder().setUnits(hidden).build());
            ln2 = addChildBlock("ln2", perPosition());
            up = addChildBlock("up", Linear.builder().setUnits(4L * hidden).build());
            down = addChildBlock("down", Linear.builder().setUnits(hidden).build());
            qkv.setInitializer(new NormalInitializer(0.02f), Parameter.Type.WEIGHT);
            up.setInitializer(new NormalInitializer(0.02f), Parameter.Type.WEIGHT);
            proj.setInitializer(new NormalInitializer(residualStd), Parameter.Type.WEIGHT);
            down.setInitializer(new NormalInitializer(residualStd), Parameter.Type.WEIGHT);
        }

        @Override
        protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training,
                                         PairList<String, Object> params) {
            NDArray x = inputs.head();
            long b = x.getShape().get(0);
            long t = x.getShape().get(1);
            long h = x.getShape().get(2);
            long d = h / heads;
            NDArray a = qkv.forward(ps, ln1.forward(ps, new NDList(x), training), training).head();
            NDList parts = a.reshape(b, t, 3, heads, d).transpose(2, 0, 3, 1, 4).split(3, 0);
            NDArray q = parts.get(0).squeeze(0);
            NDArray k = parts.get(1).squeeze(0);
            NDArray v = parts.get(2).squeeze(0);
            NDArray scores = q.matMul(k.transpose(0, 1, 3, 2)).mul(constants.scale(x.getManager(), d));
            NDArray att = scores.add(constants.mask(x.getManager(), t, scores.getDataType())).softmax(-1);
            NDArray y = att.matMul(v).transpose(0, 2, 1, 3).reshape(b, t, h);
            x = x.add(proj.forward(ps, new NDList(y), training).head());
            NDArray m = up.forward(ps, ln2.forward(ps, new NDList(x), training), training).head();
            m = down.forward(ps, new NDList(Activation.gelu(m)), training).head();
            return new NDList(x.add(m));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return inputShapes;
        }

        @Override
        protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
            Shape x = inputShapes[0];
            long h = x.get(2);
            ln1.initialize(manager, dataType, x);
            qkv.initialize(manager, dataType, x);
            proj.initialize(manager, dataType, x);
            ln2.initialize(manager, dataType, x);
            up.initialize(manager, dataType, x);
            down.initialize(manager, dataType, new Shape(x.get(0), x.get(1), 4 * h));
        }
    }

    /**
     * The attention's constant arrays, made once per device and type rather than per microbatch (on a GPU each is a
     * copy from the host). Arrays, not {@code mul(Number)}: autograd keeps the scalar for backward, and the one
     * {@code mul(Number)} makes lives in a buffer that a garbage collection may free before then (seen: NaNs). They live
     * in a manager of their own, made again if the device changes.
     */
    static final class Constants {
        private NDManager home;
        private NDArray scale;
        private NDArray mask;

        private NDManager home(NDManager like) {
            if (home == null || !home.isOpen() || !home.getDevice().equals(like.getDevice())) {
                home = NDManager.newBaseManager(like.getDevice());
                scale = null;
                mask = null;
            }
            return home;
        }

        /** 1 / sqrt(d), float32 (a 0-dimensional array keeps the other operand's type). */
        NDArray scale(NDManager like, long d) {
            NDManager h = home(like);
            if (scale == null) {
                scale = h.create((float) (1 / Math.sqrt(d)));
            }
            return scale;
        }

        /**
         * -10^4 above the diagonal, 0 elsewhere, t x t of {@code type}: added to the scores, a position does not attend
         * to later ones. Finite, so that float16 holds it and the softmax's shift never makes -inf - -inf.
         */
        NDArray mask(NDManager like, long t, DataType type) {
            NDManager h = home(like);
            if (mask == null || mask.getShape().get(0) != t || mask.getDataType() != type) {
                NDArray i = h.arange((int) t).reshape(t, 1);
                NDArray j = h.arange((int) t).reshape(1, t);
                mask = j.gt(i).toType(type, false).mul(h.create(-1e4f));
            }
            return mask;
        }
    }
}
