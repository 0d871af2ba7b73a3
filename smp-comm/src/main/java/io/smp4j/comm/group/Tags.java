package io.smp4j.comm.group;

import io.smp4j.comm.Communicator;

/** Message tags of the collectives: above the user range, bit 24 set, then the collective's code, then an index. */
final class Tags {
    static final int ALLREDUCE = 1;
    static final int BROADCAST = 2;
    static final int ALLGATHER = 3;
    static final int BARRIER = 4;

    private Tags() {
    }

    static int of(int collective, int index) {
        return (1 << 24) | (collective << 16) | (index & 0xFFFF);
    }

    /** The operation a tag belongs to, for errors: {@code what} itself for user tags. */
    static String describe(String what, int tag) {
        if (tag <= Communicator.MAX_USER_TAG) {
            return what;
        }
        int code = (tag >> 16) & 0xFF;
        String op = switch (code) {
            case ALLREDUCE -> "allReduce";
            case BROADCAST -> "broadcast";
            case ALLGATHER -> "allGather";
            case BARRIER -> "barrier";
            default -> "collective " + code;
        };
        return op + " (" + what + ")";
    }
}
