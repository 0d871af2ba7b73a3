package io.smp4j.comm.launch;

import io.smp4j.comm.JobFiles;
import io.smp4j.comm.mpj.PortExchangeServer;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/*
 * Longer than 300 lines on purpose: one job's processes from start to end (spawn, watch, stop, restart, clean up) and
 * the builder of its options; the rules it applies are classes of their own (StallWatch, RestartPolicy, JobFiles,
 * Exits) with tests of their own.
 */

/**
 * A simulated cluster on this machine: starts N JVMs on 127.0.0.1, serves MPJ's port exchange, prefixes each line
 * of their output with {@code [rank i]}, and when a rank fails (non-zero exit, killed) stops the others and
 * returns non-zero with a message naming the rank. Behind {@code ./smp run -np N}.
 *
 * <pre>{@code
 * int code = new LocalLauncher.Builder(4, mainClassName).build().run();
 * }</pre>
 */
public final class LocalLauncher {
    private static final Logger LOG = LoggerFactory.getLogger(LocalLauncher.class);

    private final int np;
    private final String mainClass;
    private final List<String> args;
    private final List<String> jvmArgs;
    private final String classpath;
    private final Map<String, String> env;
    private final boolean stopOthersOnFailure;
    /**
     * The exit code of a program that refused its input before any work (picocli's usage error, the example's bad
     * options): every rank refuses the same input, and rank 0 says why, so the others are given the grace period to
     * exit by themselves before they are stopped (a rank stopped first could lose rank 0's message).
     */
    static final int BAD_INPUT_EXIT = Exits.BAD_INPUT;
    private final Duration grace;
    private final PrintStream out;
    /** The ranks' working directory, or null for this process's. */
    private final Path directory;
    /** How many times the whole job may be started again after a failure. */
    private final int maxRestarts;
    private volatile int restarts;
    /** How long a rank may be stopped before the job is ended; zero: never. */
    private final Duration stall;
    /** This job's id: the prefix of every file it creates outside its folder ({@link JobFiles}). */
    private final String jobId = JobFiles.newJob();
    private final List<Process> processes = new ArrayList<>();
    private volatile String failureMessage;

    private LocalLauncher(Builder b) {
        this.np = b.np;
        this.mainClass = b.mainClass;
        this.args = List.copyOf(b.args);
        this.jvmArgs = List.copyOf(b.jvmArgs);
        this.classpath = b.classpath;
        this.env = new LinkedHashMap<>(b.env);
        this.stopOthersOnFailure = b.stopOthersOnFailure;
        this.grace = b.grace;
        this.out = b.out;
        this.stall = b.stall;
        this.maxRestarts = b.maxRestarts;
        this.directory = b.directory;
    }

    /** Options of one launch. */
    public static final class Builder {
        private final int np;
        private final String mainClass;
        private final List<String> args = new ArrayList<>();
        private final List<String> jvmArgs = new ArrayList<>();
        private String classpath = System.getProperty("java.class.path");
        private final Map<String, String> env = new LinkedHashMap<>();
        private boolean stopOthersOnFailure = true;
        private Duration grace = Duration.ofSeconds(3);
        private PrintStream out = System.out;
        private Path directory;
        private int maxRestarts;
        private Duration stall = Duration.ofMillis(Math.round(1000 * Double.parseDouble(
                System.getProperty("smp.stall.s", "10"))));

        public Builder(int np, String mainClass) {
            if (np < 1) {
                throw new IllegalArgumentException("-np must be at least 1, got " + np);
            }
            this.np = np;
            this.mainClass = Objects.requireNonNull(mainClass);
        }

        public Builder args(List<String> a) {
            args.addAll(a);
            return this;
        }

        public Builder jvmArgs(List<String> a) {
            jvmArgs.addAll(a);
            return this;
        }

        public Builder classpath(String cp) {
            classpath = cp;
            return this;
        }

        /** Extra environment for every rank. */
        /** Starts every rank again after a failure, up to {@code n} times (torchrun's {@code --max-restarts}). */
        public Builder maxRestarts(int n) {
            if (n < 0) {
                throw new IllegalArgumentException("--max-restarts must be >= 0, got " + n);
            }
            this.maxRestarts = n;
            return this;
        }

        /**
         * How long a rank may be stopped (SIGSTOP, a debugger) before the launcher ends the job naming it (default
         * {@code smp.stall.s}, 10 s; zero: never).
         */
        public Builder stallTimeout(Duration d) {
            this.stall = d;
            return this;
        }

        /** The ranks' working directory (default: this process's). */
        public Builder directory(Path dir) {
            this.directory = dir;
            return this;
        }

        public Builder env(String key, String value) {
            env.put(key, value);
            return this;
        }

        /** When false, a failed rank does not stop the others (tests that watch the survivors use it). */
        public Builder stopOthersOnFailure(boolean stop) {
            stopOthersOnFailure = stop;
            return this;
        }

        /** How long stopped ranks get to exit after SIGTERM before they are killed. */
        public Builder grace(Duration g) {
            grace = g;
            return this;
        }

        /** Where the ranks' prefixed output goes. */
        public Builder output(PrintStream o) {
            out = o;
            return this;
        }

        public LocalLauncher build() {
            return new LocalLauncher(this);
        }
    }

    /** The message of the first failure, or null if every rank exited 0. */
    public String failureMessage() {
        return failureMessage;
    }

    /** The processes of the last run, indexed by rank (tests use it to inject faults). */
    public synchronized List<Process> processes() {
        return List.copyOf(processes);
    }

    /** The environment variable that tells a rank which attempt of its job it is (0: the first; torchrun's restarts). */
    public static final String RESTART_ENV = "SMP_RESTART_ATTEMPT";

    /**
     * Runs the job to the end and returns 0 if every rank exited 0. When a rank fails, every rank is stopped and, up to
     * {@link Builder#maxRestarts} times, all are started again ({@link #RESTART_ENV} counts the attempts: a program
     * that saves checkpoints resumes from the newest). Not restarted: a configuration every rank refused (exit 2), and
     * the same failure twice in a row; the limit reached ends the job with its last cause.
     */
    public int run() throws IOException, InterruptedException {
        String previous = null;
        for (int attempt = 0; ; attempt++) {
            failureMessage = null;
            long t0 = System.nanoTime();
            int code = attempt(attempt);
            if (code == 0) {
                return 0;
            }
            String cause = failureMessage;
            String kind = RestartPolicy.kind(code);
            String stop = RestartPolicy.stop(attempt, maxRestarts, code, kind, previous);
            if (stop != null || attempt >= maxRestarts) {
                if (stop != null) {
                    failureMessage = stop + "; last cause: " + cause;
                    LOG.error("smp launcher: {}", failureMessage);
                }
                return code;
            }
            previous = kind;
            LOG.warn("smp launcher: attempt {} of {} failed after {} s ({}); starting every rank again", attempt + 1,
                    maxRestarts + 1, Math.round((System.nanoTime() - t0) / 1e9), cause);
        }
    }

    /** Restarts done in the last {@link #run} (0 when the first attempt ended it). */
    public int restarts() {
        return restarts;
    }

    private int attempt(int attempt) throws IOException, InterruptedException {
        restarts = attempt;
        synchronized (this) {
            processes.clear();
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Thread killOnExit = new Thread(this::destroyAll, "smp-launcher-cleanup");
        Runtime.getRuntime().addShutdownHook(killOnExit);
        List<Thread> pumps = new ArrayList<>();
        byte[] secret = new byte[16];
        new SecureRandom().nextBytes(secret);
        String token = HexFormat.of().formatHex(secret);
        RankOutput output = new RankOutput(out);
        try (PortExchangeServer server = np > 1 ? new PortExchangeServer("127.0.0.1", 0, np, token) : null) {
            for (int r = 0; r < np; r++) {
                List<String> cmd = new ArrayList<>();
                cmd.add(java);
                cmd.addAll(jvmArgs);
                cmd.add("-cp");
                cmd.add(classpath);
                cmd.add(mainClass);
                cmd.addAll(args);
                ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
                if (directory != null) {
                    pb.directory(directory.toFile());
                }
                Map<String, String> e = pb.environment();
                e.put("SMP_RANK", Integer.toString(r));
                e.put("SMP_WORLD_SIZE", Integer.toString(np));
                e.put("SMP_LOCAL_RANK", Integer.toString(r));
                e.put("SMP_LOCAL_SIZE", Integer.toString(np));
                e.put("MASTER_ADDR", "127.0.0.1");
                e.put("MASTER_PORT", Integer.toString(server == null ? 0 : server.port()));
                e.put("SMP_PORT_SERVER", "launcher");
                e.put(Bootstrap.TOKEN_ENV, token);
                e.put(JobFiles.JOB_ENV, jobId);
                e.put(RESTART_ENV, Integer.toString(attempt));
                if (!e.containsKey("MPJ_HOME") && Files.isDirectory(Path.of("/usr/share/mpj"))) {
                    e.put("MPJ_HOME", "/usr/share/mpj");
                }
                e.putAll(env);
                Process p = pb.start();
                synchronized (this) {
                    processes.add(p);
                }
                final int rank = r;
                Thread pump = new Thread(() -> output.pump(p, "[rank " + rank + "] "), "smp-pump-" + r);
                pump.setDaemon(true);
                pump.start();
                pumps.add(pump);
            }
            int code = watch();
            for (Thread t : pumps) {
                t.join(2000);
            }
            return code;
        } finally {
            destroyAll();
            // A rank killed while a job file existed (before every rank had opened it) leaves it: remove the job's.
            int left = JobFiles.removeJob(jobId, JobFiles.dirs());
            if (left > 0) {
                LOG.info("smp launcher: removed {} file(s) the job left behind", left);
            }
            try {
                Runtime.getRuntime().removeShutdownHook(killOnExit);
            } catch (IllegalStateException ignored) {
                // already shutting down
            }
        }
    }

    /** The id of this launcher's job ({@link JobFiles}). */
    public String jobId() {
        return jobId;
    }

    /** The exit code of a job the launcher ended because a rank stopped running ({@link Builder#stallTimeout}). */
    public static final int STALLED_EXIT = Exits.STALLED;

    private int watch() throws InterruptedException {
        boolean[] exited = new boolean[np];
        StallWatch stalls = new StallWatch(processes, stall);
        int remaining = np;
        int firstFailureCode = 0;
        while (remaining > 0) {
            for (int r = 0; r < np; r++) {
                Process p = processes.get(r);
                if (exited[r] || p.isAlive()) {
                    continue;
                }
                exited[r] = true;
                remaining--;
                int code = p.exitValue();
                if (code != 0 && firstFailureCode == 0) {
                    firstFailureCode = code;
                    failureMessage = "rank " + r + " " + describeExit(code)
                            + (stopOthersOnFailure && remaining > 0 ? "; stopping the other " + remaining
                            + " rank" + (remaining == 1 ? "" : "s") : "");
                    LOG.error("smp launcher: {}", failureMessage);
                    if (stopOthersOnFailure) {
                        if (code == BAD_INPUT_EXIT) {
                            awaitOthers(); // every rank refuses the same input: let rank 0 say why
                        }
                        stopOthers(r);
                    }
                }
            }
            int stalled = firstFailureCode == 0 ? stalls.check(exited) : -1;
            if (stalled >= 0) {
                firstFailureCode = STALLED_EXIT;
                failureMessage = stalls.describe(stalled);
                LOG.error("smp launcher: {}", failureMessage);
                processes.get(stalled).destroyForcibly(); // SIGKILL ends a stopped process too
                stopOthers(stalled);
            }
            if (remaining > 0) {
                Thread.sleep(20);
            }
        }
        return firstFailureCode;
    }

    static String describeExit(int code) {
        return Exits.describe(code);
    }

    /** Waits up to the grace period for the ranks still running to exit by themselves. */
    private void awaitOthers() throws InterruptedException {
        long deadline = System.nanoTime() + grace.toNanos();
        for (Process p : processes) {
            long left = deadline - System.nanoTime();
            if (left > 0 && p.isAlive()) {
                p.waitFor(left, TimeUnit.NANOSECONDS);
            }
        }
    }

    private void stopOthers(int failed) throws InterruptedException {
        for (int r = 0; r < np; r++) {
            if (r != failed) {
                processes.get(r).destroy();
            }
        }
        awaitOthers();
        for (Process p : processes) {
            if (p.isAlive()) {
                p.destroyForcibly();
            }
        }
    }

    private synchronized void destroyAll() {
        for (Process p : processes) {
            if (p.isAlive()) {
                p.destroyForcibly();
            }
        }
    }
}
