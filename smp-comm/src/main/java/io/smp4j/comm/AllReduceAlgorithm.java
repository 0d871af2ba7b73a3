package io.smp4j.comm;

import java.util.Locale;

/**
 * How {@link Communicator#allReduce} moves data. Chosen per communicator; the default comes from system property
 * {@value #PROPERTY} ({@code auto}, {@code ring}, {@code shm}).
 */
public enum AllReduceAlgorithm {
    /** Shared memory for buffers of at least {@link #AUTO_SHM_MIN_FLOATS} when all ranks share a host, else ring. */
    AUTO,
    /** Segmented ring over the transport's point-to-point messages (works across hosts). */
    RING,
    /** Through a file in /dev/shm; falls back to the ring if the ranks are on several hosts or it cannot map. */
    SHM;

    public static final String PROPERTY = "smp.comm.allreduce";
    /** Below this, two shared-memory barriers cost more than the ring's few small messages. */
    public static final int AUTO_SHM_MIN_FLOATS = 1 << 14;

    static AllReduceAlgorithm fromSystemProperty() {
        String v = System.getProperty(PROPERTY, "auto").trim().toLowerCase(Locale.ROOT);
        return switch (v) {
            case "auto" -> AUTO;
            case "ring" -> RING;
            case "shm" -> SHM;
            default -> throw new IllegalArgumentException(PROPERTY + "='" + v + "' is not valid; allowed: auto, ring, "
                    + "shm");
        };
    }
}
