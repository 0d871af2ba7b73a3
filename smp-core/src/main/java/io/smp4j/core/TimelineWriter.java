package io.smp4j.core;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes a gathered {@link Timeline}: as a Chrome trace (JSON "trace event format", loadable in Perfetto or
 * chrome://tracing; one thread per rank) and as an SVG picture of the pipeline (one lane per rank, colour by kind of
 * interval, microbatch numbers on the compute blocks).
 */
public final class TimelineWriter {
    /** Fill colour per kind (colour-blind-safe Tableau palette). */
    static final Map<Timeline.Kind, String> COLORS = new EnumMap<>(Map.of(
            Timeline.Kind.FORWARD, "#4c78a8",
            Timeline.Kind.BACKWARD, "#54a24b",
            Timeline.Kind.SEND, "#f58518",
            Timeline.Kind.RECV, "#bab0ac",
            Timeline.Kind.ALL_REDUCE, "#e45756",
            Timeline.Kind.UPDATE, "#b279a2"));

    private TimelineWriter() {
    }

    /** {@code lanes.get(r)}: the name of rank r's lane, e.g. "rank 1 (stage 1, replica 0)". */
    public static void chromeTrace(List<Timeline.Event> events, List<String> lanes, Path file) throws IOException {
        List<Map<String, Object>> out = new ArrayList<>();
        out.add(meta("process_name", null, Map.of("name", "smp4j")));
        for (int r = 0; r < lanes.size(); r++) {
            out.add(meta("thread_name", r, Map.of("name", lanes.get(r))));
            out.add(meta("thread_sort_index", r, Map.of("sort_index", r)));
        }
        for (Timeline.Event e : events) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", e.name());
            m.put("cat", e.kind().label);
            m.put("ph", "X");
            m.put("ts", e.startMicros());
            m.put("dur", e.durationMicros());
            m.put("pid", 0);
            m.put("tid", e.rank());
            Map<String, Object> args = new LinkedHashMap<>();
            args.put("step", e.step());
            if (e.microbatch() >= 0) {
                args.put("microbatch", e.microbatch());
            }
            m.put("args", args);
            out.add(m);
        }
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("traceEvents", out);
        root.put("displayTimeUnit", "ms");
        Gson gson = new GsonBuilder().create();
        write(file, gson.toJson(root));
    }

    private static Map<String, Object> meta(String name, Integer tid, Map<String, Object> args) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", name);
        m.put("ph", "M");
        m.put("pid", 0);
        if (tid != null) {
            m.put("tid", tid);
        }
        m.put("args", args);
        return m;
    }

    /** The pipeline picture; {@code title} goes on top. */
    public static void svg(List<Timeline.Event> events, List<String> lanes, String title, Path file)
            throws IOException {
        write(file, svg(events, lanes, title));
    }

    static String svg(List<Timeline.Event> events, List<String> lanes, String title) {
        final int left = 190;
        final int right = 24;
        final int top = 44;
        final int laneH = 26;
        final int gap = 8;
        final int width = 1200;
        long t0 = events.stream().mapToLong(Timeline.Event::startMicros).min().orElse(0);
        long t1 = events.stream().mapToLong(e -> e.startMicros() + e.durationMicros()).max().orElse(1);
        double span = Math.max(1, t1 - t0);
        double plotW = width - left - right;
        double scale = plotW / span;
        int lanesBottom = top + lanes.size() * (laneH + gap);
        int height = lanesBottom + 70;
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                + "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\">%n", width, height, width,
                height));
        s.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>%n", width, height));
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"24\" font-size=\"15\" font-weight=\"bold\" "
                + "fill=\"#222\">%s</text>%n", 12, escape(title)));
        // Step boundaries: where each step's first interval starts.
        Map<Long, Long> stepStart = new TreeMap<>();
        for (Timeline.Event e : events) {
            stepStart.merge(e.step(), e.startMicros(), Math::min);
        }
        for (Map.Entry<Long, Long> st : stepStart.entrySet()) {
            double x = left + (st.getValue() - t0) * scale;
            s.append(String.format(Locale.ROOT, "<line class=\"step\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                    + "stroke=\"#999\" stroke-dasharray=\"3,3\"/>%n", x, top - 8, x, lanesBottom));
            s.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#666\">step %d"
                    + "</text>%n", x + 3, top - 10, st.getKey()));
        }
        for (int r = 0; r < lanes.size(); r++) {
            int y = top + r * (laneH + gap);
            s.append(String.format(Locale.ROOT, "<rect class=\"lane\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
                    + "fill=\"#f4f4f4\"/>%n", left, y, plotW, laneH));
            s.append(String.format(Locale.ROOT, "<text class=\"lane-label\" x=\"%d\" y=\"%d\" font-size=\"12\" "
                    + "fill=\"#222\" text-anchor=\"end\">%s</text>%n", left - 8, y + laneH / 2 + 4,
                    escape(lanes.get(r))));
        }
        for (Timeline.Event e : events) {
            int y = top + e.rank() * (laneH + gap);
            double x = left + (e.startMicros() - t0) * scale;
            double w = Math.max(0.6, e.durationMicros() * scale);
            boolean compute = e.kind() == Timeline.Kind.FORWARD || e.kind() == Timeline.Kind.BACKWARD;
            int inset = compute ? 0 : 7;
            s.append(String.format(Locale.ROOT, "<rect class=\"ev %s\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" "
                    + "height=\"%d\" fill=\"%s\"><title>rank %d step %d %s (%s) %.2f ms</title></rect>%n",
                    e.kind().label, x, y + inset, w, laneH - 2 * inset, COLORS.get(e.kind()), e.rank(), e.step(),
                    e.name(), e.kind().label, e.durationMicros() / 1000.0));
            if (compute && w >= 12 && e.microbatch() >= 0) {
                s.append(String.format(Locale.ROOT, "<text x=\"%.2f\" y=\"%d\" font-size=\"10\" fill=\"#fff\" "
                        + "text-anchor=\"middle\">%d</text>%n", x + w / 2, y + laneH / 2 + 4, e.microbatch()));
            }
        }
        // Time axis.
        double tick = niceTick(span / 1000.0 / 8);
        s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#444\"/>%n", left,
                lanesBottom, left + plotW, lanesBottom));
        for (double ms = 0; ms * 1000 <= span; ms += tick) {
            double x = left + ms * 1000 * scale;
            s.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#444\"/>"
                    + "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#444\" text-anchor=\"middle\">%s</text>%n",
                    x, lanesBottom, x, lanesBottom + 4, x, lanesBottom + 16, trim(ms)));
        }
        s.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#444\" "
                + "text-anchor=\"end\">ms</text>%n", left + plotW, lanesBottom + 30));
        // Legend.
        int lx = left;
        int ly = lanesBottom + 42;
        for (Timeline.Kind k : Timeline.Kind.values()) {
            s.append(String.format(Locale.ROOT, "<rect class=\"legend\" x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" "
                    + "fill=\"%s\"/><text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"#222\">%s</text>%n", lx, ly,
                    COLORS.get(k), lx + 16, ly + 10, k.label));
            lx += 110;
        }
        s.append("</svg>\n");
        return s.toString();
    }

    static double niceTick(double raw) {
        double p = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-6))));
        for (double m : new double[] {1, 2, 5, 10}) {
            if (m * p >= raw) {
                return m * p;
            }
        }
        return 10 * p;
    }

    private static String trim(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : String.format(Locale.ROOT, "%.2f", v)
                .replaceAll("0+$", "");
    }

    static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    private static void write(Path file, String text) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.writeString(file, text);
    }
}
