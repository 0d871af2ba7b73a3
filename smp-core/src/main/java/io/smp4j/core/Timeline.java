package io.smp4j.core;

import io.smp4j.comm.Communicator;
import io.smp4j.pipeline.exec.ActionListener;
import io.smp4j.pipeline.schedule.Action;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Supplier;

/**
 * What every rank did when: forward, backward, send, receive per microbatch and the gradient all-reduce, recorded
 * while {@link #recording()} is on, then gathered to world rank 0 ({@link #gather}) and written as a Chrome trace or an
 * SVG by {@link TimelineWriter}.
 *
 * <p>Clocks: each rank measures from the moment it left a world barrier ({@link Smp#startTimeline()}), so the ranks'
 * time axes agree to within the barrier's exit skew (well under a millisecond on one host) even across hosts.
 */
public final class Timeline {
    /** Kinds of interval, also the trace's categories and the SVG's colours. */
    public enum Kind {
        FORWARD("forward"), BACKWARD("backward"), SEND("send"), RECV("recv"), ALL_REDUCE("all-reduce"),
        UPDATE("update");

        public final String label;

        Kind(String label) {
            this.label = label;
        }

        static Kind of(Action.Type t) {
            return switch (t) {
                case FORWARD -> FORWARD;
                case BACKWARD -> BACKWARD;
                case SEND_ACTIVATION, SEND_GRADIENT -> SEND;
                case RECV_ACTIVATION, RECV_GRADIENT -> RECV;
            };
        }
    }

    /**
     * One interval on one rank; {@code name} is the action's text form ({@code F3}, {@code RG1}, ...) or the operation,
     * microbatch -1 when the interval is not per microbatch; times in microseconds from the common origin.
     */
    public record Event(int rank, Kind kind, String name, int microbatch, long step, long startMicros,
                        long durationMicros) {
    }

    private final int rank;
    private final long originNanos;
    private final List<Event> events = Collections.synchronizedList(new ArrayList<>());
    private volatile boolean recording;
    private volatile long step;

    Timeline(int rank, long originNanos) {
        this.rank = rank;
        this.originNanos = originNanos;
    }

    /** Records while on; {@link Smp#startTimeline()} leaves it off, so that a program picks the steps to trace. */
    public void setRecording(boolean on) {
        recording = on;
    }

    public boolean recording() {
        return recording;
    }

    /** The step number the next intervals belong to. */
    public void setStep(long step) {
        this.step = step;
    }

    /** Records one executed pipeline action (the executor's listener). */
    public void action(Action a, long startNanos, long endNanos) {
        add(Kind.of(a.type()), a.toString(), a.microbatch(), startNanos, endNanos);
    }

    void add(Kind kind, String name, int microbatch, long startNanos, long endNanos) {
        if (recording) {
            events.add(new Event(rank, kind, name, microbatch, step, (startNanos - originNanos) / 1000,
                    Math.max(0, (endNanos - startNanos) / 1000)));
        }
    }

    /** This rank's intervals so far. */
    public List<Event> events() {
        synchronized (events) {
            return List.copyOf(events);
        }
    }

    /** Collective over {@code world}: every rank's intervals, on rank 0 (sorted by rank, then time); empty elsewhere. */
    public List<Event> gather(Communicator world) {
        byte[][] all = world.allGather(encode(events()));
        if (world.rank() != 0) {
            return List.of();
        }
        List<Event> out = new ArrayList<>();
        for (byte[] b : all) {
            out.addAll(decode(b));
        }
        out.sort((x, y) -> x.rank() != y.rank() ? Integer.compare(x.rank(), y.rank())
                : Long.compare(x.startMicros(), y.startMicros()));
        return out;
    }

    static byte[] encode(List<Event> events) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(events.size());
            for (Event e : events) {
                out.writeInt(e.rank());
                out.writeByte(e.kind().ordinal());
                out.writeUTF(e.name());
                out.writeInt(e.microbatch());
                out.writeLong(e.step());
                out.writeLong(e.startMicros());
                out.writeLong(e.durationMicros());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    static List<Event> decode(byte[] bytes) {
        List<Event> out = new ArrayList<>();
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
            int n = in.readInt();
            for (int i = 0; i < n; i++) {
                out.add(new Event(in.readInt(), Kind.values()[in.readByte()], in.readUTF(), in.readInt(),
                        in.readLong(), in.readLong(), in.readLong()));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    /**
     * Reports executed actions to the timeline {@code current} gives at the time (none while it gives null or one not
     * recording): what an executor's listener is while a job may start and stop recording.
     */
    static ActionListener actions(Supplier<Timeline> current) {
        return new ActionListener() {
            @Override
            public void executed(Action a, long startNanos, long endNanos) {
                current.get().action(a, startNanos, endNanos);
            }

            @Override
            public boolean active() {
                Timeline t = current.get();
                return t != null && t.recording();
            }
        };
    }
}
