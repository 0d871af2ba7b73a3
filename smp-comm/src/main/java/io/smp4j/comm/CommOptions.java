package io.smp4j.comm;

import java.time.Duration;
import java.util.Locale;
import java.util.Objects;

/**
 * How a communicator behaves, fixed at construction and inherited by its sub-groups (or replaced at a split).
 *
 * @param timeout       the longest any blocking call waits for a peer
 * @param allReduce     how {@link Communicator#allReduce} moves data
 * @param segmentFloats floats per message of the ring all-reduce and the broadcast chain
 */
public record CommOptions(Duration timeout, AllReduceAlgorithm allReduce, int segmentFloats) {
    public static final String TIMEOUT_PROPERTY = "smp.comm.timeout.s";
    public static final String TIMEOUT_ENV = "SMP_COMM_TIMEOUT_S";
    public static final String ALLREDUCE_PROPERTY = "smp.comm.allreduce";
    public static final double DEFAULT_TIMEOUT_S = 300;
    /**
     * 2 Mi floats = 8 MiB per message. MPJ niodev pays a large fixed cost per message (rendezvous above 128 KB,
     * buffer set-up), so fewer, larger messages win: at 47 MB on 2 ranks 32 Ki floats took 248 ms, 128 Ki 96 ms,
     * 512 Ki 97 ms, 2 Mi 65 ms, 8 Mi 63 ms ({@code ./smp bench comm --segment-floats N}).
     */
    public static final int DEFAULT_SEGMENT_FLOATS = 1 << 21;

    public CommOptions {
        Objects.requireNonNull(timeout);
        Objects.requireNonNull(allReduce);
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("the communication timeout must be positive, got " + timeout);
        }
        if (segmentFloats < 1) {
            throw new IllegalArgumentException("segmentFloats must be >= 1, got " + segmentFloats);
        }
    }

    /** 300 s, automatic all-reduce, 8 MiB segments. */
    public static CommOptions defaults() {
        return new CommOptions(seconds(DEFAULT_TIMEOUT_S), AllReduceAlgorithm.AUTO, DEFAULT_SEGMENT_FLOATS);
    }

    /**
     * The defaults, with the timeout of system property {@value #TIMEOUT_PROPERTY} (else environment variable
     * {@value #TIMEOUT_ENV}) and the algorithm of {@value #ALLREDUCE_PROPERTY} when set.
     */
    public static CommOptions fromSystem() {
        String v = System.getProperty(TIMEOUT_PROPERTY);
        String source = TIMEOUT_PROPERTY;
        if (v == null) {
            v = System.getenv(TIMEOUT_ENV);
            source = TIMEOUT_ENV;
        }
        Duration timeout = seconds(DEFAULT_TIMEOUT_S);
        if (v != null && !v.isBlank()) {
            double s;
            try {
                s = Double.parseDouble(v.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(source + "='" + v + "' is not a number of seconds");
            }
            if (!(s > 0)) {
                throw new IllegalArgumentException(source + "=" + v + " must be a positive number of seconds");
            }
            timeout = seconds(s);
        }
        String a = System.getProperty(ALLREDUCE_PROPERTY, "auto");
        return new CommOptions(timeout, AllReduceAlgorithm.parse(ALLREDUCE_PROPERTY, a), DEFAULT_SEGMENT_FLOATS);
    }

    public CommOptions withTimeout(Duration t) {
        return new CommOptions(t, allReduce, segmentFloats);
    }

    public CommOptions withAllReduce(AllReduceAlgorithm a) {
        return new CommOptions(timeout, a, segmentFloats);
    }

    public CommOptions withSegmentFloats(int n) {
        return new CommOptions(timeout, allReduce, n);
    }

    private static Duration seconds(double s) {
        return Duration.ofNanos((long) (s * 1e9));
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "timeout %.1f s, all-reduce %s, segments of %d floats",
                timeout.toNanos() / 1e9, allReduce.name().toLowerCase(Locale.ROOT), segmentFloats);
    }
}
