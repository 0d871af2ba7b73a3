package io.smp4j.comm.mpj;

import io.smp4j.comm.CommException;
import io.smp4j.comm.ReduceOp;
import io.smp4j.comm.group.AllReduce;
import io.smp4j.comm.group.Transfer;
import io.smp4j.comm.group.Transport;
import java.time.Duration;
import mpi.Datatype;
import mpi.Intracomm;
import mpi.MPI;

/**
 * One group's transport over MPJ Express niodev (separate JVMs over TCP, one host or many). Every MPJ call runs on the
 * process's {@link MpjEngine}; a send returns once MPJ has taken (copied) the data, a receive at once, and both
 * complete when the engine sees them done.
 */
final class MpjTransport implements Transport {
    private final MpjEngine engine;
    private final Intracomm comm;
    private final String group;
    /** The group's table of world ranks (for error messages), as the group was given it; null for the world. */
    private final int[] worldRanks;
    private final int rank;
    private final Duration timeout;
    /** What closing this transport does: finalize MPJ for the world, nothing for a sub-group. */
    private final Runnable onClose;

    MpjTransport(MpjEngine engine, Intracomm comm, String group, int[] worldRanks, int rank, Duration timeout,
                 Runnable onClose) {
        this.engine = engine;
        this.comm = comm;
        this.group = group;
        this.worldRanks = worldRanks;
        this.rank = rank;
        this.timeout = timeout;
        this.onClose = onClose;
    }

    private String who(int r) {
        return worldRanks == null ? "rank " + r : "rank " + r + " (world rank " + worldRanks[r] + ")";
    }

    private Transfer send(Object buf, Datatype type, int offset, int length, int dest, int tag) {
        MpjEngine.EngineTransfer t = engine.post(() -> comm.Isend(buf, offset, length, type, dest, tag), null,
                length, "MPJ Isend to " + who(dest) + " (tag " + tag + ") failed on " + who(rank)
                        + ": the connection is gone (the peer died?)");
        // The caller may reuse its buffer once MPJ copied it; a send MPJ blocks inside must not hang the caller.
        if (!t.awaitPosted(timeout.toNanos())) {
            throw new CommException("MPJ Express did not take the send to " + who(dest) + " (tag " + tag + ") of "
                    + who(rank) + " in group '" + group + "' within " + timeout.toSeconds() + " s: the peer is dead or "
                    + "stopped (MPJ blocks in a send to a lost connection)");
        }
        t.isDone(); // throws MPJ's refusal, if any
        return t;
    }

    private Transfer recv(Object buf, Datatype type, int offset, int length, int source, int tag) {
        return engine.post(() -> comm.Irecv(buf, offset, length, type, source, tag), type, -1,
                "MPJ Irecv from " + who(source) + " (tag " + tag + ") failed on " + who(rank)
                        + ": the connection is gone (the peer died?)");
    }

    @Override
    public Transfer send(float[] buf, int offset, int length, int dest, int tag) {
        return send(buf, MPI.FLOAT, offset, length, dest, tag);
    }

    @Override
    public Transfer send(byte[] buf, int offset, int length, int dest, int tag) {
        return send(buf, MPI.BYTE, offset, length, dest, tag);
    }

    @Override
    public Transfer recv(float[] buf, int offset, int length, int source, int tag) {
        return recv(buf, MPI.FLOAT, offset, length, source, tag);
    }

    @Override
    public Transfer recv(byte[] buf, int offset, int length, int source, int tag) {
        return recv(buf, MPI.BYTE, offset, length, source, tag);
    }

    @Override
    public Transport subgroup(int color, int key, int[] members, int[] memberWorldRanks, int newRank, String name) {
        // The all-gather that computed the members proved every peer alive just now; MPJ's Split (which waits for
        // every peer) then gives the sub-group a context of its own, so its tags never mix with ours.
        Intracomm sub = engine.call(() -> comm.Split(color, key), timeout, "MPJ Split of group '" + group + "'");
        int got = engine.call(sub::Rank, timeout, "MPJ Rank");
        int size = engine.call(sub::Size, timeout, "MPJ Size");
        if (got != newRank || size != members.length) {
            throw new CommException("MPJ Split disagrees with smp4j's split: rank " + got + "/" + size + " vs "
                    + newRank + "/" + members.length);
        }
        return new MpjTransport(engine, sub, name, memberWorldRanks, newRank, timeout, () -> { });
    }

    @Override
    public boolean processes() {
        return true;
    }

    /** MPJ's own Allreduce (sum or average), kept for the benchmark that compares against it. */
    @Override
    public AllReduce nativeAllReduce() {
        return (buf, offset, length, op) -> {
            float[] out = new float[length];
            engine.call(() -> {
                comm.Allreduce(buf, offset, out, 0, length, MPI.FLOAT, MPI.SUM);
                return null;
            }, timeout, "MPJ Allreduce");
            float scale = op == ReduceOp.AVERAGE ? 1f / engine.call(comm::Size, timeout, "MPJ Size") : 1f;
            for (int i = 0; i < length; i++) {
                buf[offset + i] = out[i] * scale;
            }
        };
    }

    @Override
    public void close() {
        onClose.run();
    }
}
