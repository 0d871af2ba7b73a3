package io.smp4j.examples.bench;

import com.google.gson.JsonObject;
import java.util.Locale;

/** What every benchmark report writes with: formatted lines into one Markdown text, numbers from the results' JSON. */
abstract class MarkdownReport {
    /** The text written so far. */
    protected final StringBuilder s;

    protected MarkdownReport() {
        this(new StringBuilder());
    }

    /** Writes into {@code out} (a section of a larger report). */
    protected MarkdownReport(StringBuilder out) {
        this.s = out;
    }

    /** One line, formatted in the root locale (a decimal point everywhere). */
    protected void line(String format, Object... args) {
        s.append(String.format(Locale.ROOT, format, args)).append('\n');
    }

    /** A number of the results. */
    protected static double d(JsonObject o, String k) {
        return o.get(k).getAsDouble();
    }
}
