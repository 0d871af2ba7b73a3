package io.smp4j.pipeline.schedule;

import java.util.ArrayList;
import java.util.List;

/**
 * What every pipeline rank does in one step: for each stage, its ordered action list. Pure data: printable,
 * checkable by {@link ScheduleSimulator} before anything runs.
 *
 * @param name         e.g. {@code interleaved}
 * @param stages       pipeline ranks P
 * @param microbatches M
 * @param actions      actions.get(stage) is that stage's list
 * @param chunks       model chunks per rank (virtual stages, v): rank r's chunk c is global stage c * P + r, of P * v
 */
public record Schedule(String name, int stages, int microbatches, List<List<Action>> actions, int chunks) {
    public Schedule {
        actions = actions.stream().map(List::copyOf).toList();
        if (chunks < 1) {
            throw new IllegalArgumentException("chunks per rank must be >= 1, got " + chunks);
        }
        if (actions.size() != stages) {
            throw new IllegalArgumentException("schedule has " + actions.size() + " action lists for " + stages
                    + " stages");
        }
    }

    /** One chunk per rank. */
    public Schedule(String name, int stages, int microbatches, List<List<Action>> actions) {
        this(name, stages, microbatches, actions, 1);
    }

    /** Global stages: P x chunks. */
    public int globalStages() {
        return stages * chunks;
    }

    public List<Action> forStage(int stage) {
        return actions.get(stage);
    }

    /** One line per stage, e.g. {@code stage 1: RA0 F0 RA1 F1 RG1 B1 SG1 ...}. */
    public List<String> lines() {
        List<String> out = new ArrayList<>();
        for (int s = 0; s < stages; s++) {
            StringBuilder b = new StringBuilder("stage " + s + ":");
            for (Action a : actions.get(s)) {
                b.append(' ').append(a);
            }
            out.add(b.toString());
        }
        return out;
    }

    /** Parses {@link #lines()} back (used to check hand-written schedules in tests). */
    public static Schedule parse(String name, int microbatches, List<String> lines) {
        return parse(name, microbatches, 1, lines);
    }

    /** As {@link #parse(String, int, List)}, with {@code chunks} chunks per rank. */
    public static Schedule parse(String name, int microbatches, int chunks, List<String> lines) {
        List<List<Action>> acts = new ArrayList<>();
        for (String line : lines) {
            String body = line.substring(line.indexOf(':') + 1).trim();
            List<Action> list = new ArrayList<>();
            if (!body.isEmpty()) {
                for (String tok : body.split("\\s+")) {
                    list.add(Action.parse(tok));
                }
            }
            acts.add(list);
        }
        return new Schedule(name, acts.size(), microbatches, acts, chunks);
    }

    @Override
    public String toString() {
        return name + " schedule, " + stages + " stages" + (chunks > 1 ? " x " + chunks + " chunks" : "") + " x "
                + microbatches + " microbatches\n"
                + String.join("\n", lines());
    }
}
