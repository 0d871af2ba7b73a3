package io.smp4j.pipeline.schedule;

import java.util.ArrayList;
import java.util.List;

/** Schedules a user writes as text ({@code schedule_file}): read, then checked before anything runs them. */
public final class ScheduleText {
    private ScheduleText() {
    }

    /**
     * A schedule written by hand, in the text form of {@link Schedule#lines()} (one line per stage, such as
     * {@code stage 1: RA0 F0 RA1 F1 RG1 B1 SG1 RG0 B0 SG0}; blank lines and lines starting with {@code #} are skipped;
     * a file of forwards and backwards alone, such as {@code stage 0: F0 F1 B0 B1}, gets its sends and receives from
     * {@link Schedules#withCommunication}), for {@code stages} stages of {@code chunks} chunks and {@code microbatches} microbatches, checked by the {@link
     * ScheduleSimulator} before it is returned: every microbatch forwarded and backwarded once per stage, sends matching
     * receives, no deadlock. An error names the file and what is wrong.
     */
    public static Schedule fromText(String source, List<String> text, int stages, int microbatches, int chunks) {
        List<String> lines = new ArrayList<>();
        for (String l : text) {
            if (!l.isBlank() && !l.trim().startsWith("#")) {
                lines.add(l.trim());
            }
        }
        try {
            if (lines.size() != stages) {
                throw new IllegalArgumentException("it has " + lines.size() + " stage line(s), the job " + stages
                        + " stage(s) (partitions)");
            }
            for (int i = 0; i < lines.size(); i++) {
                if (!lines.get(i).startsWith("stage " + i + ":")) {
                    throw new IllegalArgumentException("line " + (i + 1) + " must start with 'stage " + i + ":', got '"
                            + lines.get(i) + "'");
                }
            }
            Schedule s = Schedule.parse("file " + source, microbatches, chunks, lines);
            if (s.actions().stream().flatMap(List::stream).allMatch(a -> a.type().computes())) {
                // Forwards and backwards alone: the sends and receives are added as the generators' are.
                s = new Schedule(s.name(), stages, microbatches, Schedules.withCommunication(s.actions(), stages,
                        chunks), chunks);
            }
            ScheduleSimulator.simulate(s, 1, 2);
            return s;
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("schedule_file " + source + " is not a schedule for " + stages
                    + " stages x " + microbatches + " microbatches" + (chunks > 1 ? " x " + chunks + " chunks" : "")
                    + ": " + e.getMessage(), e);
        }
    }
}
