package io.smp4j.comm.launch;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * The ranks' output on one stream: line by line, each line prefixed with its rank. A carriage return (a progress bar
 * redrawing its line) is passed on as such, so that the bar updates in place on a terminal; a line from another rank
 * that comes while a bar is drawn starts on a new line.
 */
final class RankOutput {
    private final PrintStream out;
    /** The rank whose carriage-return line (a progress bar) is the terminal's current line, or null. Under out. */
    private Process openLine;

    RankOutput(PrintStream out) {
        this.out = out;
    }

    /** Copies {@code p}'s output to the end, each line prefixed with {@code prefix}. */
    void pump(Process p, String prefix) {
        try (BufferedReader in = new BufferedReader(
                new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            StringBuilder line = new StringBuilder();
            int c;
            while ((c = in.read()) >= 0) {
                if (c != '\n' && c != '\r') {
                    line.append((char) c);
                    continue;
                }
                if (c == '\r' && line.length() == 0) {
                    continue;
                }
                synchronized (out) {
                    if (openLine != null && openLine != p) {
                        out.print(System.lineSeparator()); // leave the other rank's bar as it is
                        openLine = null;
                    }
                    if (c == '\r') {
                        out.print("\r" + prefix + line);
                        openLine = p;
                    } else if (openLine == p && line.length() == 0) {
                        out.print(System.lineSeparator()); // the bar's line ends
                        openLine = null;
                    } else {
                        out.print((openLine == p ? "\r" : "") + prefix + line + System.lineSeparator());
                        openLine = null;
                    }
                    out.flush();
                }
                line.setLength(0);
            }
            if (line.length() > 0) {
                synchronized (out) {
                    out.println(prefix + line);
                    openLine = null;
                }
            }
        } catch (IOException e) {
            // the rank went away; its exit code says why
        }
    }
}
