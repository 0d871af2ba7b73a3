package io.smp4j.pipeline.exec;

import ai.djl.ndarray.NDManager;

/**
 * The microbatches a stage holds during one step, by (chunk, microbatch) key: each opens with its first action on the
 * stage (in its own {@link NDManager} scope) and is let go after its last; closing closes whatever is still held (a
 * step that failed).
 */
final class Flights implements AutoCloseable {
    private final InFlight[] byKey;
    private final NDManager manager;
    private int held;

    Flights(NDManager manager, int keys) {
        this.manager = manager;
        this.byKey = new InFlight[keys];
    }

    /** The microbatch under {@code key}, opened (with a fresh scope) if this is its first action here. */
    InFlight open(int key) {
        if (byKey[key] == null) {
            byKey[key] = new InFlight();
            byKey[key].scope = manager.newSubManager();
            held++;
        }
        return byKey[key];
    }

    /** Lets the microbatch under {@code key} go: its arrays are freed. */
    void finish(int key) {
        byKey[key].scope.close();
        byKey[key] = null;
        held--;
    }

    /** How many microbatches are held now. */
    int held() {
        return held;
    }

    @Override
    public void close() {
        for (InFlight f : byKey) {
            if (f != null) {
                f.scope.close();
            }
        }
    }
}
