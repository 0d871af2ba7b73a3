package io.smp4j.comm;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The files a job creates outside its own folder (the shared-memory all-reduce's file in /dev/shm, Unix socket files
 * in the temporary folder), named so that they can be found again: {@code smp4j-<job>-<pid>-<random>}. Each is
 * unlinked as soon as every rank has opened it, but a rank killed inside that window leaves it behind: the local
 * launcher removes its job's files when the job ends, however it ends ({@link #removeJob}); under mpirun, the next
 * start of any smp4j job on the host removes the files whose creating process is gone ({@link #removeStale}).
 */
public final class JobFiles {
    private static final Logger LOG = LoggerFactory.getLogger(JobFiles.class);
    /** The job's id, set by the launcher for every rank (letters and digits). */
    public static final String JOB_ENV = "SMP_JOB_ID";
    private static final String PREFIX = "smp4j-";

    private JobFiles() {
    }

    /** Where jobs create files: /dev/shm and the temporary folders. */
    public static List<Path> dirs() {
        List<Path> d = new ArrayList<>(List.of(Path.of("/dev/shm"), Path.of("/tmp")));
        Path tmp = Path.of(System.getProperty("java.io.tmpdir", "/tmp"));
        if (!d.contains(tmp)) {
            d.add(tmp);
        }
        return d;
    }

    /** This process's job id (from the launcher), or {@code nojob}. */
    public static String job() {
        String j = System.getenv(JOB_ENV);
        return j == null || !j.matches("[A-Za-z0-9]{1,32}") ? "nojob" : j.toLowerCase(Locale.ROOT);
    }

    /** A new job id. */
    public static String newJob() {
        return UUID.randomUUID().toString().replace("-", "").substring(0, 12);
    }

    /** A file name for this process's job: {@code smp4j-<job>-<pid>-<random><suffix>}. */
    public static String name(String suffix) {
        return PREFIX + job() + "-" + ProcessHandle.current().pid() + "-"
                + UUID.randomUUID().toString().replace("-", "").substring(0, 12) + suffix;
    }

    /** Removes every file of job {@code job} in {@code dirs}; returns how many. */
    public static int removeJob(String job, List<Path> dirs) {
        return remove(dirs, n -> n.startsWith(PREFIX + job + "-"));
    }

    /** Removes the files in {@code dirs} whose creating process is no longer alive; returns how many. */
    public static int removeStale(List<Path> dirs) {
        return remove(dirs, n -> {
            String[] p = n.split("-");
            if (p.length < 4 || !p[0].equals("smp4j") || !p[2].matches("\\d{1,10}")) {
                return false;
            }
            return ProcessHandle.of(Long.parseLong(p[2])).map(h -> !h.isAlive()).orElse(true);
        });
    }

    private interface Match {
        boolean test(String name);
    }

    private static int remove(List<Path> dirs, Match match) {
        int n = 0;
        for (Path dir : dirs) {
            if (!Files.isDirectory(dir)) {
                continue;
            }
            try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, PREFIX + "*")) {
                for (Path f : files) {
                    if (match.test(f.getFileName().toString()) && Files.deleteIfExists(f)) {
                        LOG.debug("removed {}", f);
                        n++;
                    }
                }
            } catch (IOException e) {
                LOG.debug("cannot list {}: {}", dir, e.toString());
            }
        }
        return n;
    }
}
