package io.smp4j.comm.launch;

import io.smp4j.comm.CommException;
import io.smp4j.comm.CommOptions;
import io.smp4j.comm.Communicator;
import io.smp4j.comm.local.LocalCluster;
import io.smp4j.comm.mpj.MpjRuntime;
import io.smp4j.comm.mpj.PortExchangeServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns "this process was started by some launcher" into a world {@link Communicator}:
 * under {@code ./smp run} or {@code mpirun} (Open MPI, MPICH) it joins the MPJ Express niodev job, rank 0 serving
 * the port exchange when no launcher does; started alone, it is a world of one that needs no MPI.
 *
 * <pre>{@code
 * try (Communicator world = Bootstrap.init()) {
 *     world.allReduce(grads, ReduceOp.AVERAGE);
 * }
 * }</pre>
 */
public final class Bootstrap {
    private static final Logger LOG = LoggerFactory.getLogger(Bootstrap.class);
    /** The job's secret: ranks present it to the port-exchange server (set by the local launcher, or by the user). */
    public static final String TOKEN_ENV = "SMP_JOB_TOKEN";

    private Bootstrap() {
    }

    /** Joins the job described by this process's environment, with the options of {@link CommOptions#fromSystem}. */
    public static Communicator init() {
        return init(LaunchInfo.fromEnvironment(System.getenv()), CommOptions.fromSystem());
    }

    public static Communicator init(LaunchInfo info, CommOptions options) {
        if (info.size() == 1) {
            LOG.debug("no launcher: world of one, no MPI");
            return new LocalCluster(1, options).world(0);
        }
        requireMpj(info.size());
        String token = System.getenv(TOKEN_ENV);
        token = token == null || token.isBlank() ? null : token;
        PortExchangeServer server = null;
        if (info.rank() == 0 && info.rank0Serves()) {
            if (token == null) {
                LOG.warn("{} is not set: the port exchange at {}:{} admits any process that claims a rank; pass "
                        + "one to every rank (mpirun -x {}=<secret>)", TOKEN_ENV, info.masterAddr(),
                        info.masterPort(), TOKEN_ENV);
            }
            server = new PortExchangeServer(info.masterAddr(), info.masterPort(), info.size(), token);
        }
        try {
            return MpjRuntime.init(info.rank(), info.size(), info.masterAddr(), info.masterPort(), options, token);
        } finally {
            if (server != null) {
                server.close();
            }
        }
    }

    /**
     * MPJ Express is not on Maven Central, so it can be missing from a user's class path: say so, and how to fix it,
     * before a bare NoClassDefFoundError from deep inside the start-up.
     */
    static void requireMpj(int worldSize) {
        for (String[] c : new String[][] {{"mpi.MPI", "MPJ Express (mpj.jar)"},
                {"org.apache.log4j.Logger", "the log4j 1.2 API that MPJ Express logs through (reload4j)"}}) {
            try {
                Class.forName(c[0], false, Bootstrap.class.getClassLoader());
            } catch (ClassNotFoundException | LinkageError e) {
                throw new CommException(c[1] + " is not on the class path (class " + c[0] + " not found), and a job of "
                        + worldSize + " processes needs it. With Maven, depend on io.smp4j:smp-core (it brings "
                        + "mpjexpress:mpj and ch.qos.reload4j:reload4j) after putting MPJ's jar into your local "
                        + "repository once: ./smp setup does it from Debian's libmpj-java (apt-get install "
                        + "libmpj-java) or from $MPJ_HOME/lib/mpj.jar of the official MPJ Express 0.44 download; by "
                        + "hand: mvn install:install-file -Dfile=$MPJ_HOME/lib/mpj.jar -DgroupId=mpjexpress "
                        + "-DartifactId=mpj -Dversion=0.44 -Dpackaging=jar. Without Maven, add mpj.jar and "
                        + "reload4j-1.2.26.jar to -cp.");
            }
        }
    }
}
