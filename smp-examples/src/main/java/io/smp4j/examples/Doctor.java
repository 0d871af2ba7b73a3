package io.smp4j.examples;

import io.smp4j.comm.launch.LaunchInfo;
import io.smp4j.core.device.DeviceSelector;
import io.smp4j.core.device.Gpu;
import io.smp4j.core.device.GpuProbe;
import io.smp4j.core.device.JCudaProbe;
import io.smp4j.examples.support.Versions;
import java.io.File;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@code ./smp doctor}: what smp4j finds on this machine. Java; DJL's engine with libtorch version and flavour
 * (required); MPJ Express (required); mpirun (optional: only for launching under mpirun); every GPU with its memory
 * and the peer-access matrix; and, under mpirun, this process's rank, local rank and planned device. Exit code 1 when
 * something required is missing.
 */
public final class Doctor {
    private Doctor() {
    }

    public static void main(String[] args) {
        System.exit(run(System.out, new JCudaProbe(), System.getenv()));
    }

    static int run(PrintStream out, GpuProbe probe, Map<String, String> env) {
        boolean ok = true;
        out.println("smp4j doctor");
        out.printf("  %-12s OK       %s %s (%s)%n", "java", System.getProperty("java.vm.name"),
                System.getProperty("java.version"), System.getProperty("java.home"));
        ok &= djl(out);
        ok &= mpj(out);
        mpirun(out);
        List<Gpu> gpus = gpus(out, probe);
        launch(out, probe, env, gpus);
        out.println(ok ? "result: ready" : "result: something required is missing (see MISSING above)");
        return ok ? 0 : 1;
    }

    static boolean djl(PrintStream out) {
        try {
            out.printf("  %-12s OK       %s%n", "djl engine", Versions.engine());
            return true;
        } catch (Throwable t) {
            out.printf("  %-12s MISSING  DJL's PyTorch engine does not load: %s%n", "djl engine", t.getMessage());
            return false;
        }
    }

    static boolean mpj(PrintStream out) {
        try {
            out.printf("  %-12s OK       %s%n", "mpj express", Versions.mpj());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            out.printf("  %-12s MISSING  mpi.MPI is not on the class path (Debian: apt-get install libmpj-java; "
                    + "./smp setup)%n", "mpj express");
            return false;
        }
    }

    static void mpirun(PrintStream out) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            Path p = Path.of(dir, "mpirun");
            if (Files.isExecutable(p)) {
                out.printf("  %-12s OK       %s (%s)%n", "mpirun", p, firstLine(p.toString(), "--version"));
                return;
            }
        }
        out.printf("  %-12s absent   not on PATH (only needed to launch under mpirun; ./smp run does not)%n",
                "mpirun");
    }

    static List<Gpu> gpus(PrintStream out, GpuProbe probe) {
        List<Gpu> gpus;
        try {
            gpus = probe.gpus();
        } catch (GpuProbe.GpuUnavailableException e) {
            out.printf("  %-12s none     no usable GPU (%s): training runs on the CPU%n", "gpus", e.getMessage());
            return List.of();
        }
        if (gpus.isEmpty()) {
            out.printf("  %-12s none     the driver reports no GPU: training runs on the CPU%n", "gpus");
            return gpus;
        }
        out.printf("  %-12s OK       %d GPU(s)%n", "gpus", gpus.size());
        for (Gpu g : gpus) {
            Gpu withFree = g;
            try {
                withFree = probe.use(g.index());
            } catch (RuntimeException e) {
                // keep the total only
            }
            out.printf("  %-12s          %s%n", "", withFree);
        }
        StringBuilder header = new StringBuilder();
        for (Gpu g : gpus) {
            header.append(String.format(" %3d", g.index()));
        }
        out.printf("  %-12s          peer access (row can read column):%s%n", "", header);
        for (Gpu a : gpus) {
            StringBuilder row = new StringBuilder();
            for (Gpu b : gpus) {
                row.append(a.index() == b.index() ? "   -" : probe.canAccessPeer(a.index(), b.index()) ? "   Y"
                        : "   n");
            }
            out.printf("  %-12s          %3d%s%n", "", a.index(), row);
        }
        return gpus;
    }

    static void launch(PrintStream out, GpuProbe probe, Map<String, String> env, List<Gpu> gpus) {
        boolean mpirun = env.containsKey("OMPI_COMM_WORLD_RANK") || env.containsKey("PMI_RANK");
        if (!mpirun) {
            out.printf("  %-12s          not under mpirun (./smp run, or a world of one)%n", "launch");
            return;
        }
        LaunchInfo info = LaunchInfo.fromEnvironment(env);
        String device;
        try {
            device = DeviceSelector.select(info.localRank(), info.localSize(), probe, DeviceSelector.request())
                    .reason();
        } catch (IllegalArgumentException e) {
            device = "ERROR " + e.getMessage();
        }
        out.printf("  %-12s          rank %d of %d, local rank %d of %d; device: %s%n", "launch", info.rank(),
                info.size(), info.localRank(), info.localSize(), device);
    }

    private static String firstLine(String... cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor(10, TimeUnit.SECONDS);
            return text.lines().filter(l -> !l.isBlank()).findFirst().orElse("").trim();
        } catch (Exception e) {
            return "version unknown";
        }
    }
}
