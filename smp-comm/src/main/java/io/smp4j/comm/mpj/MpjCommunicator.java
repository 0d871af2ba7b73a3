package io.smp4j.comm.mpj;

import io.smp4j.comm.AbstractCommunicator;
import io.smp4j.comm.CommException;
import io.smp4j.comm.Communicator;
import io.smp4j.comm.Transfer;
import java.time.Duration;
import mpi.Datatype;
import mpi.Intracomm;
import mpi.MPI;
import mpi.MPIException;
import mpi.Request;
import mpi.Status;

/**
 * A rank over MPJ Express niodev (separate JVMs over TCP, one host or many). Point-to-point maps to MPJ's
 * Isend/Irecv polled with {@code Test()} so that every wait has a deadline (a dead MPJ peer is otherwise
 * invisible); the collectives are smp4j's own (see {@link AbstractCommunicator}), not MPJ's.
 *
 * <p>Start one with {@link io.smp4j.comm.launch.Bootstrap#init()}.
 */
public final class MpjCommunicator extends AbstractCommunicator {
    /** MPJ is not known to be thread-safe; every call into it is made under this lock. */
    static final Object MPJ_LOCK = new Object();

    private final Intracomm comm;
    private final boolean world;

    MpjCommunicator(Intracomm comm, String name, Duration timeout, boolean world) throws MPIException {
        super(comm.Rank(), comm.Size(), name, timeout);
        this.comm = comm;
        this.world = world;
    }

    /** MPJ's own Allreduce, kept for the benchmark that compares against it. Blocking, no timeout. */
    public void mpjAllReduceSum(float[] buf, int offset, int length) {
        float[] out = new float[length];
        try {
            synchronized (MPJ_LOCK) {
                comm.Allreduce(buf, offset, out, 0, length, MPI.FLOAT, MPI.SUM);
            }
        } catch (MPIException e) {
            throw new CommException("MPJ Allreduce failed on rank " + rank(), e);
        }
        System.arraycopy(out, 0, buf, offset, length);
    }

    private static Datatype typeOf(Object buf) {
        if (buf instanceof float[]) {
            return MPI.FLOAT;
        }
        if (buf instanceof byte[]) {
            return MPI.BYTE;
        }
        throw new IllegalArgumentException("unsupported buffer type " + buf.getClass());
    }

    @Override
    protected Transfer postSend(Object buf, int offset, int length, int dest, int tag) {
        try {
            Request req;
            synchronized (MPJ_LOCK) {
                req = comm.Isend(buf, offset, length, typeOf(buf), dest, tag);
            }
            return new MpjTransfer(req, null, length);
        } catch (MPIException e) {
            throw new CommException("MPJ Isend to " + who(dest) + " (tag " + tag + ") failed on " + who(rank())
                    + ": the connection is gone (the peer died?)", e);
        }
    }

    @Override
    protected Transfer postRecv(Object buf, int offset, int length, int source, int tag) {
        try {
            Request req;
            synchronized (MPJ_LOCK) {
                req = comm.Irecv(buf, offset, length, typeOf(buf), source, tag);
            }
            return new MpjTransfer(req, typeOf(buf), -1);
        } catch (MPIException e) {
            throw new CommException("MPJ Irecv from " + who(source) + " (tag " + tag + ") failed on " + who(rank())
                    + ": the connection is gone (the peer died?)", e);
        }
    }

    private static final class MpjTransfer implements Transfer {
        private final Request req;
        private final Datatype recvType;
        private int count;
        private boolean done;

        MpjTransfer(Request req, Datatype recvType, int sendCount) {
            this.req = req;
            this.recvType = recvType;
            this.count = sendCount;
        }

        @Override
        public boolean poll() {
            if (done) {
                return true;
            }
            try {
                synchronized (MPJ_LOCK) {
                    Status s = req.Test();
                    if (s == null) {
                        return false;
                    }
                    if (recvType != null) {
                        count = s.Get_count(recvType);
                    }
                }
            } catch (MPIException e) {
                throw new CommException("MPJ request failed", e);
            }
            done = true;
            return true;
        }

        @Override
        public int count() {
            return count;
        }
    }

    @Override
    protected AbstractCommunicator createSubgroup(int color, int key, int[] members, int newRank, String childName) {
        // The allGather that computed the members proved every peer alive just now; MPJ's Split (which has no
        // timeout of its own) then gives the sub-group a context of its own, so its tags never mix with ours.
        try {
            Intracomm sub;
            synchronized (MPJ_LOCK) {
                sub = comm.Split(color, key);
            }
            MpjCommunicator c = new MpjCommunicator(sub, childName, timeout(), false);
            if (c.rank() != newRank || c.size() != members.length) {
                throw new CommException("MPJ Split disagrees with smp4j's split: rank " + c.rank() + "/" + c.size()
                        + " vs " + newRank + "/" + members.length);
            }
            return c;
        } catch (MPIException e) {
            throw new CommException("MPJ Split failed on rank " + rank(), e);
        }
    }

    @Override
    protected boolean sharedMemoryByDefault() {
        return true;
    }

    @Override
    public void close() {
        closeCollectives();
        if (world) {
            MpjRuntime.finalizeQuietly(timeout());
        }
    }

    /** Convenience for code that holds a {@link Communicator} and needs the MPJ one. */
    public static MpjCommunicator of(Communicator c) {
        if (c instanceof MpjCommunicator m) {
            return m;
        }
        throw new IllegalArgumentException(c + " is not an MPJ communicator");
    }
}
