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
 */
public record Schedule(String name, int stages, int microbatches, List<List<Action>> actions) {
    public Schedule {
        actions = actions.stream().map(List::copyOf).toList();
        if (actions.size() != stages) {
            throw new IllegalArgumentException("schedule has " + actions.size() + " action lists for " + stages
                    + " stages");
        }
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
        return new Schedule(name, acts.size(), microbatches, acts);
    }

    @Override
    public String toString() {
        return name + " schedule, " + stages + " stages x " + microbatches + " microbatches\n"
                + String.join("\n", lines());
    }
}
