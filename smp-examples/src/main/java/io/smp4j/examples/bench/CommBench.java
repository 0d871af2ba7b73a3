package io.smp4j.examples.bench;

import com.google.gson.GsonBuilder;
import io.smp4j.comm.AllReduceAlgorithm;
import io.smp4j.comm.CommOptions;
import io.smp4j.comm.Communicator;
import io.smp4j.comm.ReduceOp;
import io.smp4j.comm.launch.Bootstrap;
import io.smp4j.examples.cli.CommandLines;
import io.smp4j.pipeline.Stats;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Rank program of {@code ./smp bench comm}: for message sizes 4 KB .. 64 MB (and 46.8 MB, ResNet18's gradients),
 * measures point-to-point (ping-pong between ranks 0 and 1), smp4j's ring all-reduce and MPJ's own Allreduce, and
 * prints on rank 0 a table as nccl-tests does: time, algorithm bandwidth (size / time) and bus bandwidth
 * (algbw x 2(p-1)/p, comparable across rank counts). Medians over several iterations after a warm-up.
 *
 * <p>Options: {@code --max-bytes N}, {@code --segment-floats N}, {@code --no-mpj}.
 */
public final class CommBench {
    static final long RESNET18_FLOATS = 11_689_512L;

    private CommBench() {
    }

    @Command(name = "commbench", description = "Point-to-point and all-reduce table on every rank count.")
    static final class Options {
        @Option(names = "--max-bytes", paramLabel = "N", converter = CommandLines.Positive.class,
                description = "largest message (default ${DEFAULT-VALUE})")
        int maxBytes = 64 << 20;
        @Option(names = "--segment-floats", paramLabel = "N", converter = CommandLines.Positive.class,
                description = "floats per message of the ring (default: the communicator's)")
        int segment;
        @Option(names = "--no-mpj", description = "leave out MPJ Express's own Allreduce")
        boolean noMpj;
        @Option(names = "--out", paramLabel = "FILE", description = "write the rows as JSON (rank 0)")
        String out;
        @Option(names = {"-h", "--help"}, usageHelp = true, description = "this help")
        boolean help;
    }

    public static void main(String[] args) {
        Options o = CommandLines.parseOrExit(new Options(), args, "commbench");
        long maxBytes = o.maxBytes;
        int segment = o.segment;
        boolean mpj = !o.noMpj;
        String out = o.out;
        int code = 0;
        try (Communicator world = Bootstrap.init()) {
            CommOptions options = segment > 0 ? world.options().withSegmentFloats(segment) : world.options();
            List<Map<String, Object>> rows = run(world, options, maxBytes, mpj);
            if (out != null && world.rank() == 0) {
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("ranks", world.size());
                r.put("rows", rows);
                Files.writeString(Path.of(out),
                        new GsonBuilder().setPrettyPrinting().create().toJson(r));
            }
        } catch (RuntimeException | IOException e) {
            System.out.println("bench failed: " + e.getMessage());
            code = 1;
        }
        System.out.flush();
        Runtime.getRuntime().halt(code);
    }

    static List<Long> sizes(long maxBytes) {
        List<Long> s = new ArrayList<>();
        for (long b = 4096; b <= maxBytes; b *= 4) {
            s.add(b);
        }
        long resnet = RESNET18_FLOATS * 4;
        if (resnet <= maxBytes) {
            s.add(resnet);
            s.sort(Long::compare);
        }
        return s;
    }

    /** One communicator per all-reduce algorithm (each a split of the whole world with its own options). */
    static List<Map<String, Object>> run(Communicator c, CommOptions options, long maxBytes,
                                                   boolean withMpj) {
        try (Communicator ringGroup = c.split(0, c.rank(), options.withAllReduce(AllReduceAlgorithm.RING));
             Communicator shmGroup = c.split(0, c.rank(), options.withAllReduce(AllReduceAlgorithm.SHM));
             Communicator mpjGroup = c.split(0, c.rank(), options.withAllReduce(AllReduceAlgorithm.MPJ))) {
            return run(c, ringGroup, shmGroup, withMpj && c.size() > 1 ? mpjGroup : null, maxBytes);
        }
    }

    static List<Map<String, Object>> run(Communicator c, Communicator ringGroup, Communicator shmGroup,
                                                   Communicator mpjGroup, long maxBytes) {
        List<Map<String, Object>> rows = new ArrayList<>();
        int p = c.size();
        boolean rank0 = c.rank() == 0;
        if (rank0) {
            System.out.printf(Locale.ROOT, "# smp4j comm bench: %d ranks on one host; p2p and ring over the host's "
                    + "Unix domain sockets (MPJ Express niodev with -Dsmp.comm.sockets=false), shm through /dev/shm; medians in microseconds, GB/s = 1e9 bytes/s, "
                    + "busbw = algbw x 2(p-1)/p%n", p);
            System.out.printf(Locale.ROOT, "%10s %9s | %9s %6s | %9s %6s %6s | %9s %6s %6s | %9s %6s %6s | %8s%n",
                    "size(B)", "floats", "p2p(us)", "GB/s", "ring(us)", "algbw", "busbw", "shm(us)", "algbw",
                    "busbw", "mpj(us)", "algbw", "busbw", "best/mpj");
        }
        for (long bytes : sizes(maxBytes)) {
            int n = (int) (bytes / 4);
            // Many rounds of the small sizes: their times are microseconds, and the first rounds run interpreted code.
            int iters = bytes <= (64 << 10) ? 200 : bytes <= (1 << 20) ? 50 : bytes <= (16 << 20) ? 7 : 5;
            float[] buf = new float[n];
            double p2p = pingPong(c, buf, iters);
            double ring = timed(c, iters, () -> ringGroup.allReduce(buf, ReduceOp.SUM));
            double shm = timed(c, iters, () -> shmGroup.allReduce(buf, ReduceOp.SUM));
            double mpjT = Double.NaN;
            if (mpjGroup != null) {
                mpjT = timed(c, Math.min(iters, 3), () -> mpjGroup.allReduce(buf, ReduceOp.SUM));
            }
            if (rank0) {
                double bus = 2.0 * (p - 1) / p;
                double alg = bytes / ring / 1e3;
                double salg = bytes / shm / 1e3;
                double malg = bytes / mpjT / 1e3;
                System.out.printf(Locale.ROOT, "%10d %9d | %9.1f %6.3f | %9.1f %6.3f %6.3f | %9.1f %6.3f %6.3f | "
                                + "%9.1f %6.3f %6.3f | %7.2fx%n", bytes, n, p2p, bytes / p2p / 1e3, ring, alg,
                        alg * bus, shm, salg, salg * bus, mpjT, malg, malg * bus, mpjT / Math.min(ring, shm));
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("bytes", bytes);
                row.put("p2p_us", p2p);
                row.put("ring_us", ring);
                row.put("shm_us", shm);
                row.put("mpj_us", Double.isNaN(mpjT) ? null : mpjT);
                row.put("bus_factor", bus);
                rows.add(row);
            }
        }
        return rows;
    }

    /** One-way time between ranks 0 and 1 (half the round trip); other ranks idle. */
    static double pingPong(Communicator c, float[] buf, int iters) {
        double[] t = new double[iters];
        int warm = Math.min(iters, 20);
        c.barrier();
        for (int i = 0; i < iters + warm; i++) {
            long t0 = System.nanoTime();
            if (c.rank() == 0) {
                c.send(buf, 0, buf.length, 1, 1);
                c.recv(buf, 0, buf.length, 1, 2);
            } else if (c.rank() == 1) {
                c.recv(buf, 0, buf.length, 0, 1);
                c.send(buf, 0, buf.length, 0, 2);
            }
            if (i >= warm) {
                t[i - warm] = (System.nanoTime() - t0) / 2e3;
            }
        }
        c.barrier();
        return Stats.median(t);
    }

    /** Median time of {@code op} in microseconds, the maximum over ranks of each iteration. */
    static double timed(Communicator c, int iters, Runnable op) {
        double[] t = new double[iters];
        for (int i = 0; i < Math.min(iters, 20); i++) {
            op.run(); // warm-up
        }
        for (int i = 0; i < iters; i++) {
            c.barrier();
            long t0 = System.nanoTime();
            op.run();
            t[i] = (System.nanoTime() - t0) / 1e3;
        }
        // Agree on one number: the slowest rank's median.
        float[] med = {(float) Stats.median(t)};
        float[] all = new float[c.size()];
        all[c.rank()] = med[0];
        c.allReduce(all, ReduceOp.SUM);
        return Arrays.stream(toDouble(all)).max().orElse(med[0]);
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }
}
