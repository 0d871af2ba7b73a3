package io.smp4j.examples;

import io.smp4j.comm.Communicator;
import io.smp4j.comm.ReduceOp;
import io.smp4j.comm.Topology;
import io.smp4j.comm.launch.Bootstrap;
import io.smp4j.examples.cli.CommandLines;
import java.util.Arrays;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./smp run -np N allreduce [--floats F] [--partitions P]}: every rank contributes (rank + 1) * (i mod 1000)
 * to an all-reduce of F floats (default: ResNet18's 11,689,512 gradients) over the world, then over its
 * data-parallel group for P pipeline stages (default: 2 on an even world above 2 ranks, else 1), and checks both
 * results against their closed forms.
 */
public final class AllReduceDemo {
    private AllReduceDemo() {
    }

    @Command(name = "allreduce", description = "All-reduce of F floats over the world, then over the "
            + "data-parallel groups of P stages, checked against the closed forms.")
    static final class Options {
        @Option(names = "--floats", paramLabel = "F", converter = CommandLines.Positive.class,
                description = "floats per all-reduce (default: ResNet18's gradients, ${DEFAULT-VALUE})")
        int floats = 11_689_512;
        @Option(names = "--partitions", paramLabel = "P", converter = CommandLines.Positive.class,
                description = "pipeline stages (default: 2 on an even world above 2 ranks, else 1)")
        int partitions;
        @Option(names = {"-h", "--help"}, usageHelp = true, description = "this help")
        boolean help;
    }

    public static void main(String[] args) {
        Options o = CommandLines.parseOrExit(new Options(), args, "allreduce");
        int code;
        try (Communicator world = Bootstrap.init()) {
            code = run(world, o.floats, o.partitions) ? 0 : 1;
        }
        System.out.flush();
        Runtime.getRuntime().halt(code);
    }

    static boolean run(Communicator world, int n, int partitions) {
        int p = world.size();
        if (partitions == 0) {
            partitions = p % 2 == 0 && p > 2 ? 2 : 1;
        }
        Topology topo = new Topology(p, partitions, "cluster");
        if (world.rank() == 0) {
            topo.describe().forEach(System.out::println);
        }
        float[] buf = new float[n];
        // The first call pays for JIT compilation and MPJ's buffers: report the median of the next five.
        double[] ms = new double[6];
        double worldErr = 0;
        for (int it = 0; it < ms.length; it++) {
            fill(buf, world.rank());
            world.barrier();
            long t0 = System.nanoTime();
            world.allReduce(buf, ReduceOp.SUM);
            ms[it] = (System.nanoTime() - t0) / 1e6;
            // Closed form: sum over ranks r of (r + 1) * (i mod 1000) = (i mod 1000) * p (p + 1) / 2.
            worldErr = Math.max(worldErr, maxError(buf, p * (p + 1) / 2.0));
        }
        boolean ok = worldErr == 0;
        double[] warm = Arrays.copyOfRange(ms, 1, ms.length);
        Arrays.sort(warm);

        // Data-parallel groups: the ranks holding the same stage average their "gradients".
        int stage = topo.ppRank(world.rank());
        Communicator dp = world.split(stage, topo.dpRank(world.rank()));
        fill(buf, world.rank());
        dp.allReduce(buf, ReduceOp.AVERAGE);
        int[] members = topo.dataParallelGroup(world.rank());
        double mean = 0;
        for (int m : members) {
            mean += m + 1;
        }
        mean /= members.length;
        double dpErr = maxError(buf, mean);
        ok &= dpErr <= 1e-3;
        System.out.printf(Locale.ROOT, "stage %d data-parallel group %s: average matches closed form "
                + "(max error %.2g)%n", stage, Arrays.toString(members), dpErr);
        if (world.rank() == 0) {
            System.out.printf(Locale.ROOT, "all-reduce (sum) of %,d floats (%.1f MB) over %d ranks: %.1f ms "
                            + "(median of 5 after a %.0f ms first call); result %s closed form (max error %.2g)%n",
                    n, n * 4 / 1e6, p, warm[2], ms[0], worldErr == 0 ? "matches" : "DOES NOT match", worldErr);
        }
        return ok;
    }

    private static void fill(float[] buf, int rank) {
        for (int i = 0; i < buf.length; i++) {
            buf[i] = (rank + 1) * (i % 1000);
        }
    }

    private static double maxError(float[] buf, double factor) {
        double err = 0;
        for (int i = 0; i < buf.length; i++) {
            err = Math.max(err, Math.abs(buf[i] - factor * (i % 1000)));
        }
        return err;
    }
}
