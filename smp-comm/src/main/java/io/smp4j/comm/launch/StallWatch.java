package io.smp4j.comm.launch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Finds a rank that stopped running: Linux process state T or t (stopped by a signal or a tracer) for at least the
 * stall timeout. A stopped rank never answers; its peers would wait for their full communication timeout (300 s by
 * default, right for a slow collective), while its state says at once that it no longer runs.
 */
final class StallWatch {
    private final List<Process> processes;
    private final Duration stall;
    private final long[] stoppedSince;
    private long nextCheck;

    StallWatch(List<Process> processes, Duration stall) {
        this.processes = processes;
        this.stall = stall;
        this.stoppedSince = new long[processes.size()];
    }

    /** A rank stopped for the stall timeout or longer, or -1; looks at most every 250 ms. */
    int check(boolean[] exited) {
        long now = System.nanoTime();
        if (stall.isZero() || now < nextCheck) {
            return -1;
        }
        nextCheck = now + 250_000_000L;
        for (int r = 0; r < stoppedSince.length; r++) {
            if (exited[r]) {
                continue;
            }
            char state = state(processes.get(r).pid());
            if (state == 'T' || state == 't') {
                if (stoppedSince[r] == 0) {
                    stoppedSince[r] = now;
                } else if (now - stoppedSince[r] >= stall.toNanos()) {
                    return r;
                }
            } else {
                stoppedSince[r] = 0;
            }
        }
        return -1;
    }

    String describe(int rank) {
        return "rank " + rank + " (pid " + processes.get(rank).pid() + ") stopped running (process state T: SIGSTOP "
                + "or a debugger) " + Math.round((System.nanoTime() - stoppedSince[rank]) / 1e9) + " s ago; stopping "
                + "the job (smp.stall.s=" + stall.toSeconds() + ")";
    }

    /** A process's scheduling state from /proc ({@code R}, {@code S}, {@code T} stopped, ...); '?' elsewhere. */
    static char state(long pid) {
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
