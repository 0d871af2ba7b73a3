package io.smp4j.examples.support;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** This process's resident memory (Linux /proc), for the memory benchmarks. */
public final class ProcessMemory {
    private ProcessMemory() {
    }

    /**
     * Resets the kernel's peak-RSS mark to the current RSS (Linux: "5" into /proc/self/clear_refs), so that VmHWM then
     * measures the timed steps only; returns the current RSS in MB.
     */
    public static double resetPeakRss() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        } catch (IOException | RuntimeException e) {
            // not Linux, or not allowed: VmHWM stays the lifetime peak
        }
        return status("VmRSS:");
    }

    /** Peak resident set size of this process (VmHWM), in MB. */
    public static double peakRssMb() {
        return status("VmHWM:");
    }

    private static double status(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(key)) {
                    return Long.parseLong(line.replaceAll("\\D+", "")) / 1024.0;
                }
            }
        } catch (IOException e) {
            return -1;
        }
        return -1;
    }
}
