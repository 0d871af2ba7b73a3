package io.smp4j.comm.launch;

import java.util.Map;

/**
 * Who this process is in the job, as its launcher told it through the environment.
 *
 * @param rank        world rank
 * @param size        world size
 * @param localRank   rank among the processes of this host (selects the GPU)
 * @param localSize   processes on this host
 * @param masterAddr  host of the port-exchange server
 * @param masterPort  port of the port-exchange server
 * @param launcher    {@code smp} (./smp run), {@code openmpi}, {@code mpich}, or {@code none} (a world of one)
 * @param rank0Serves whether rank 0 runs the port-exchange server itself (under mpirun) or the launcher does
 */
public record LaunchInfo(int rank, int size, int localRank, int localSize, String masterAddr, int masterPort,
                         String launcher, boolean rank0Serves) {

    public static final String DEFAULT_MASTER_ADDR = "127.0.0.1";
    public static final int DEFAULT_MASTER_PORT = 29500;

    /** A single process started without a launcher: a world of one, no MPI at all. */
    public static LaunchInfo single() {
        return new LaunchInfo(0, 1, 0, 1, DEFAULT_MASTER_ADDR, DEFAULT_MASTER_PORT, "none", false);
    }

    /**
     * Reads the variables of smp4j's launcher ({@code SMP_RANK}, ...), Open MPI ({@code OMPI_COMM_WORLD_*}) or
     * MPICH/Hydra ({@code PMI_RANK}, {@code PMI_SIZE}), in that order; none of them means a world of one.
     */
    public static LaunchInfo fromEnvironment(Map<String, String> env) {
        String launcher;
        int rank;
        int size;
        int localRank;
        int localSize;
        if (env.containsKey("SMP_RANK")) {
            launcher = "smp";
            rank = intVar(env, "SMP_RANK", null);
            size = intVar(env, "SMP_WORLD_SIZE", null);
            localRank = intVar(env, "SMP_LOCAL_RANK", rank);
            localSize = intVar(env, "SMP_LOCAL_SIZE", size);
        } else if (env.containsKey("OMPI_COMM_WORLD_RANK")) {
            launcher = "openmpi";
            rank = intVar(env, "OMPI_COMM_WORLD_RANK", null);
            size = intVar(env, "OMPI_COMM_WORLD_SIZE", null);
            localRank = intVar(env, "OMPI_COMM_WORLD_LOCAL_RANK", rank);
            localSize = intVar(env, "OMPI_COMM_WORLD_LOCAL_SIZE", size);
        } else if (env.containsKey("PMI_RANK")) {
            launcher = "mpich";
            rank = intVar(env, "PMI_RANK", null);
            size = intVar(env, "PMI_SIZE", null);
            localRank = intVar(env, "MPI_LOCALRANKID", rank);
            localSize = intVar(env, "MPI_LOCALNRANKS", size);
        } else {
            return single();
        }
        if (size < 1 || rank < 0 || rank >= size) {
            throw new IllegalArgumentException("launcher '" + launcher + "' says rank " + rank + " of world size "
                    + size + ": a rank must be in 0.." + (size - 1));
        }
        if (localSize < 1 || localRank < 0 || localRank >= localSize) {
            throw new IllegalArgumentException("launcher '" + launcher + "' says local rank " + localRank
                    + " of local size " + localSize);
        }
        String addr = env.getOrDefault("MASTER_ADDR", DEFAULT_MASTER_ADDR).trim();
        int port = intVar(env, "MASTER_PORT", DEFAULT_MASTER_PORT);
        // A world of one exchanges no ports (the local launcher passes 0 then).
        if (size > 1 && (port < 1 || port > 65535)) {
            throw new IllegalArgumentException("MASTER_PORT=" + port + " is not a TCP port (1..65535)");
        }
        boolean rank0Serves = !"launcher".equals(env.get("SMP_PORT_SERVER"));
        return new LaunchInfo(rank, size, localRank, localSize, addr, port, launcher, rank0Serves);
    }

    private static int intVar(Map<String, String> env, String name, Integer dflt) {
        String v = env.get(name);
        if (v == null || v.isBlank()) {
            if (dflt == null) {
                throw new IllegalArgumentException("environment variable " + name + " is missing");
            }
            return dflt;
        }
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("environment variable " + name + "='" + v + "' is not an integer");
        }
    }
}
