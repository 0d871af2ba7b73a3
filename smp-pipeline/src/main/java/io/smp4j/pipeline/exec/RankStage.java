package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import java.util.List;

/**
 * What a {@link PipelineExecutor}'s step and its parts read of the rank's stage: its chunks and where they sit in the
 * model, the link to the neighbours, the manager, and where parameters are read.
 */
final class RankStage {
    /** This rank's chunks (one without virtual stages): chunk c is global stage {@code c * stages + index}. */
    private final List<Block> chunks;
    private final int index;
    private final int stages;
    private final String description;
    private final StageLink link;
    private final NDManager manager;
    private ParameterStore store;
    /** Each chunk's {@link #describe} text, made once (a microbatch's call carries it). */
    private final String[] described;

    RankStage(List<Block> chunks, int index, int stages, String description, StageLink link, NDManager manager) {
        this.chunks = List.copyOf(chunks);
        this.index = index;
        this.stages = stages;
        this.description = description;
        this.link = link;
        this.manager = manager;
        this.store = new ParameterStore(manager, false);
        this.described = new String[this.chunks.size()];
        for (int c = 0; c < described.length; c++) {
            described[c] = "stage " + global(c) + " of " + stages * this.chunks.size() + " (" + description + ")";
        }
    }

    List<Block> chunks() {
        return chunks;
    }

    /** This rank's stage index (its rank in the pipeline group). */
    int index() {
        return index;
    }

    StageLink link() {
        return link;
    }

    NDManager manager() {
        return manager;
    }

    ParameterStore store() {
        return store;
    }

    void setStore(ParameterStore store) {
        this.store = store;
    }

    /** Global stage of chunk {@code chunk}. */
    int global(int chunk) {
        return chunk * stages + index;
    }

    boolean first(int chunk) {
        return global(chunk) == 0;
    }

    boolean last(int chunk) {
        return global(chunk) == stages * chunks.size() - 1;
    }

    /** Chunk {@code chunk} in error messages: {@code stage 3 of 4 (units 4..12 (9))}. */
    String describe(int chunk) {
        return described[chunk];
    }
}
