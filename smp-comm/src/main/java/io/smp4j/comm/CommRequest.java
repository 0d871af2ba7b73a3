package io.smp4j.comm;

import java.time.Duration;

/**
 * A non-blocking send or receive in flight. {@link #await()} blocks at most the communicator's timeout and
 * then throws {@link CommTimeoutException}; it never waits forever.
 */
public interface CommRequest {
    /** True once the operation has completed; never blocks. */
    boolean isDone();

    /**
     * Waits for completion.
     *
     * @return the number of elements transferred (floats or bytes, as posted)
     * @throws CommTimeoutException if the peer did not complete the operation within the timeout
     */
    int await();

    /**
     * Waits at most {@code timeout} (instead of the communicator's); the request stays posted if it times out.
     *
     * @throws CommTimeoutException if the operation did not complete in time
     */
    int await(Duration timeout);

    /** Awaits every request in order; returns nothing, throws the first failure. */
    static void awaitAll(Iterable<? extends CommRequest> requests) {
        for (CommRequest r : requests) {
            r.await();
        }
    }
}
