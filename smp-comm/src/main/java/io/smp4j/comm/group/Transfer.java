package io.smp4j.comm.group;

/**
 * The transport's view of one posted send or receive. Waiting parks the caller (a transport wakes it on completion),
 * so a waiting rank leaves its core to the ranks that compute; the deadline and the error naming the peer are the
 * {@link Group}'s.
 */
public interface Transfer {
    /** True once the operation completed; never blocks. Throws the transport's error if it failed. */
    boolean isDone();

    /** Blocks up to {@code nanos} for completion; true if it completed. Throws the transport's error if it failed. */
    boolean await(long nanos);

    /** Elements transferred (floats or bytes, as posted); valid once done. */
    int count();

    /** A transfer that is complete already, with {@code count} elements (a send the transport finished at once). */
    static Transfer completed(int count) {
        return new Transfer() {
            @Override
            public boolean isDone() {
                return true;
            }

            @Override
            public boolean await(long nanos) {
                return true;
            }

            @Override
            public int count() {
                return count;
            }
        };
    }
}
