package io.smp4j.examples.cli;

import io.smp4j.comm.CommException;
import io.smp4j.comm.launch.LaunchInfo;
import io.smp4j.core.DeviceMemoryException;
import java.util.List;
import java.util.function.Function;

/**
 * How an example's rank program starts and ends: its options parsed on every rank (one message, from rank 0, for a bad
 * command line; {@code --help} printed once), then its body, whose failure becomes an exit code and one clear line:
 * 2 for a configuration every rank finds wrong alike (said once), 3 for a lost or silent peer (said by each rank,
 * naming it), 4 for a rank out of GPU memory (said by that rank), 1 for anything else (with its stack trace). The process then halts: MPJ's threads and shutdown hooks
 * must not keep a failed rank alive.
 */
public final class ExampleMain {
    /** The exit code of a rank that ran out of GPU memory. */
    public static final int OUT_OF_MEMORY_EXIT = 4;

    private ExampleMain() {
    }

    /** An example's body on this rank. */
    @FunctionalInterface
    public interface Body<O> {
        void run(O options) throws Exception;
    }

    /**
     * Parses with {@code parse} (an {@link IllegalArgumentException} for a bad command line), prints {@code usage(o)}
     * and exits when it is not null (--help), else runs {@code body}; never returns.
     */
    public static <O> void run(String program, String[] args, Function<List<String>, O> parse,
                               Function<O, String> usage, Body<O> body) {
        int rank = launchRank();
        O o;
        try {
            o = parse.apply(List.of(args));
        } catch (IllegalArgumentException e) {
            if (rank == 0) {
                System.err.println(program + ": " + e.getMessage() + " (--help lists the options)");
            }
            System.exit(2);
            return;
        }
        if (usage.apply(o) != null) {
            if (rank == 0) {
                System.out.print(usage.apply(o));
            }
            System.exit(0);
            return;
        }
        int code = 0;
        try {
            body.run(o);
        } catch (IllegalArgumentException e) {
            if (rank == 0) {
                System.err.println(program + ": " + e.getMessage());
            }
            code = 2;
        } catch (DeviceMemoryException e) {
            // This rank's own resource problem: said here, plainly (the others only see this rank leave).
            System.err.println(program + ": " + e.getMessage());
            code = OUT_OF_MEMORY_EXIT;
        } catch (CommException e) {
            // Closing the communicator would wait on the very peer that is gone: say which, and leave at once.
            System.err.println(program + ": rank " + rank + " stops: " + e.getMessage());
            code = 3;
        } catch (Exception | Error e) {
            e.printStackTrace();
            code = 1;
        }
        System.out.flush();
        System.err.flush();
        Runtime.getRuntime().halt(code);
    }

    /** This process's rank from the launcher's environment; 0 when it is unusable (Smp.init then says why). */
    public static int launchRank() {
        try {
            return LaunchInfo.fromEnvironment(System.getenv()).rank();
        } catch (IllegalArgumentException e) {
            return 0;
        }
    }
}
