package io.smp4j.comm;

import java.util.Locale;

/** How {@link Communicator#allReduce} moves data (see {@link CommOptions#allReduce()}). */
public enum AllReduceAlgorithm {
    /** Shared memory for buffers of at least {@link #AUTO_SHM_MIN_FLOATS} when all ranks share a host, else ring. */
    AUTO,
    /** Segmented ring over the transport's point-to-point messages (works across hosts). */
    RING,
    /** Through a file in /dev/shm; falls back to the ring if the ranks are on several hosts or it cannot map. */
    SHM,
    /** MPJ Express's own Allreduce (MPJ transports only; no deadline): kept for comparison. */
    MPJ;

    /** Below this, two shared-memory barriers cost more than the ring's few small messages. */
    public static final int AUTO_SHM_MIN_FLOATS = 1 << 14;

    /** {@code auto}, {@code ring}, {@code shm} or {@code mpj}; {@code source} names the setting in the error. */
    public static AllReduceAlgorithm parse(String source, String value) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        for (AllReduceAlgorithm a : values()) {
            if (a.name().toLowerCase(Locale.ROOT).equals(v)) {
                return a;
            }
        }
        throw new IllegalArgumentException(source + "='" + value + "' is not valid; allowed: auto, ring, shm, mpj");
    }
}
