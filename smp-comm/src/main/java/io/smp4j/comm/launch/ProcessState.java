package io.smp4j.comm.launch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A process's scheduling state from Linux's /proc ({@code R}, {@code S}, {@code T} stopped, ...); '?' elsewhere. */
final class ProcessState {
    private ProcessState() {
    }

    static char of(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            // pid (comm) state ...: comm may hold spaces and parentheses; the state follows the last ')'.
            int close = stat.lastIndexOf(')');
            return close >= 0 && close + 2 < stat.length() ? stat.charAt(close + 2) : '?';
        } catch (IOException | RuntimeException e) {
            return '?';
        }
    }
}
