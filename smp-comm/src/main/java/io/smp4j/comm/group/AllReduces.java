package io.smp4j.comm.group;

import io.smp4j.comm.AllReduceAlgorithm;
import io.smp4j.comm.ReduceOp;

/**
 * Picks a group's all-reduce from its options, once: the ring; shared memory (when every rank is on one host and
 * /dev/shm can hold the buffer, else the ring); automatic (shared memory for buffers of at least
 * {@link AllReduceAlgorithm#AUTO_SHM_MIN_FLOATS} between processes, the ring otherwise); or the transport's own.
 * Every rank of a group decides alike: the choice depends only on the options, the length and collective outcomes.
 */
final class AllReduces {
    private AllReduces() {
    }

    static AllReduce create(CollectiveGroup group, Transport transport) {
        AllReduceAlgorithm a = group.options().allReduce();
        return switch (a) {
            case RING -> new RingAllReduce(group);
            case SHM -> new SharedOrRing(group, 0);
            case AUTO -> transport.processes() ? new SharedOrRing(group, AllReduceAlgorithm.AUTO_SHM_MIN_FLOATS)
                    : new RingAllReduce(group);
            case MPJ -> {
                AllReduce own = transport.nativeAllReduce();
                if (own == null) {
                    throw new IllegalArgumentException("all-reduce algorithm mpj needs the MPJ Express transport");
                }
                yield own;
            }
        };
    }

    /** Shared memory from {@code minFloats} on, the ring below it or where shared memory is unavailable. */
    private static final class SharedOrRing implements AllReduce {
        private final CollectiveGroup group;
        private final int minFloats;
        private final RingAllReduce ring;
        private SharedMemoryAllReduce shm;
        private boolean unavailable;

        SharedOrRing(CollectiveGroup group, int minFloats) {
            this.group = group;
            this.minFloats = minFloats;
            this.ring = new RingAllReduce(group);
        }

        @Override
        public void allReduce(float[] buf, int offset, int length, ReduceOp op) {
            if (length >= minFloats && !unavailable && shm == null) {
                shm = SharedMemoryAllReduce.create(group, length);
                unavailable = shm == null;
            }
            if (length >= minFloats && shm != null) {
                shm.allReduce(buf, offset, length, op);
            } else {
                ring.allReduce(buf, offset, length, op);
            }
        }

        @Override
        public void close() {
            if (shm != null) {
                shm.close();
                shm = null;
            }
        }
    }
}
