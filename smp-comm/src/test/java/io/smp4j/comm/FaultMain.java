package io.smp4j.comm;

import io.smp4j.comm.launch.Bootstrap;

/**
 * Rank process for the fault tests. Mode {@code allreduce-forever}: all-reduces in a loop, printing
 * {@code READY} after the first rounds and {@code DETECTED <message>} (exit 42) when a communication times out.
 * Mode {@code rank1-fails}: rank 1 exits 7 after one barrier while the others keep waiting in barriers. Mode
 * {@code rank1-exits}: rank 1 exits 7 at once while the others sleep (only the launcher stops them). Mode
 * {@code leak}: rank 1 creates a job file in /dev/shm (as the shared-memory all-reduce does), prints {@code LEAKED
 * <path>} and dies (SIGKILL's exit) before anyone unlinks it. Any other communication failure prints {@code LOST
 * <message>} (exit 43).
 */
public final class FaultMain {
    private FaultMain() {
    }

    public static void main(String[] args) throws Exception {
        Communicator world = Bootstrap.init();
        String mode = args[0];
        if (mode.equals("rank1-exits")) {
            // Rank 1 fails at once; the others do nothing that would notice (the launcher alone stops them).
            if (world.rank() == 1) {
                System.out.println("FAILING");
                System.out.flush();
                Runtime.getRuntime().halt(7);
            }
            Thread.sleep(60_000);
            Runtime.getRuntime().halt(0);
        }
        if (mode.equals("leak") && world.rank() == 1) {
            java.nio.file.Path f = java.nio.file.Path.of("/dev/shm", JobFiles.name(""));
            java.nio.file.Files.write(f, new byte[4096]);
            System.out.println("LEAKED " + f);
            System.out.flush();
            Runtime.getRuntime().halt(137);
        }
        try {
            float[] buf = new float[100_000];
            for (int i = 0; ; i++) {
                if (mode.equals("allreduce-forever")) {
                    world.allReduce(buf, ReduceOp.SUM);
                    if (i == 3) {
                        System.out.println("READY");
                    }
                    Thread.sleep(5);
                } else {
                    world.barrier();
                    if (world.rank() == 1) {
                        System.out.println("FAILING");
                        System.out.flush();
                        Runtime.getRuntime().halt(7);
                    }
                }
            }
        } catch (CommTimeoutException e) {
            System.out.println("DETECTED " + e.getMessage());
            System.out.flush();
            Runtime.getRuntime().halt(42);
        } catch (CommException e) {
            System.out.println("LOST " + e.getMessage());
            System.out.flush();
            Runtime.getRuntime().halt(43);
        }
    }
}
