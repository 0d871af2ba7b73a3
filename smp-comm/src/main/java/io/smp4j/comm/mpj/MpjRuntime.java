package io.smp4j.comm.mpj;

import io.smp4j.comm.CommException;
import io.smp4j.comm.CommOptions;
import io.smp4j.comm.Communicator;
import io.smp4j.comm.group.Group;
import io.smp4j.comm.socket.HostSockets;
import io.smp4j.comm.socket.SocketTransport;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.UnknownHostException;
import java.time.Duration;
import mpi.MPI;
import mpi.MPIException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Starts and stops MPJ Express niodev in this process, without mpjrun or MPJ daemons. */
public final class MpjRuntime {
    private static final Logger LOG = LoggerFactory.getLogger(MpjRuntime.class);
    private static boolean initialized;

    private MpjRuntime() {
    }

    /**
     * Joins the job: waits (up to the options' timeout) until the port-exchange server at {@code host:port}
     * accepts, presents the job token (when not null), then runs MPI.Init for niodev and returns the world.
     */
    public static synchronized Communicator init(int rank, int size, String host, int port, CommOptions options,
                                                 String token) {
        Duration timeout = options.timeout();
        if (initialized) {
            throw new CommException("MPJ Express is already initialised in this process");
        }
        checkHostNameResolves();
        awaitServer(host, port, timeout);
        if (token != null) {
            PortExchangeServer.presentToken(host, port, rank, token, (int) Math.min(Integer.MAX_VALUE,
                    timeout.toMillis()));
        }
        String conf = "#Number of Processes;" + size + ";#Protocol Switch Limit;131072;#Server Name;" + host
                + ";#Server Port;" + port;
        try {
            MPI.Init(new String[] {Integer.toString(rank), conf, "niodev"});
            initialized = true;
            if (MPI.COMM_WORLD.Rank() != rank || MPI.COMM_WORLD.Size() != size) {
                throw new CommException("MPJ started as rank " + MPI.COMM_WORLD.Rank() + " of "
                        + MPI.COMM_WORLD.Size() + " but this process is rank " + rank + " of " + size);
            }
            LOG.debug("MPJ niodev up: rank {} of {} via {}:{}", rank, size, host, port);
            // From here on, every MPJ call runs on the engine's thread.
            MpjEngine engine = new MpjEngine();
            MpjTransport world = new MpjTransport(engine, MPI.COMM_WORLD, "world", null, rank, timeout,
                    () -> finalizeQuietly(engine, timeout));
            if (size > 1 && HostSockets.enabled()) {
                // Ranks of one host talk through Unix domain sockets; the set-up itself goes through MPJ.
                HostSockets sockets = HostSockets.open(new Group(rank, size, "world", options, world, null),
                        timeout);
                if (sockets != null) {
                    return new Group(rank, size, "world", options, new SocketTransport(world, sockets), null);
                }
            }
            return new Group(rank, size, "world", options, world, null);
        } catch (MPIException e) {
            throw new CommException("MPJ Express failed to start rank " + rank + " of " + size + " via "
                    + host + ":" + port + ": " + e.getMessage(), e);
        }
    }

    /** niodev calls InetAddress.getLocalHost() in MPI.Init and fails with a bare UnknownHostException. */
    private static void checkHostNameResolves() {
        try {
            InetAddress.getLocalHost();
        } catch (UnknownHostException e) {
            String name = e.getMessage() == null ? "?" : e.getMessage().split(":")[0].trim();
            throw new CommException("this host's name '" + name + "' does not resolve to an address, and MPJ Express "
                    + "needs it: add a line '127.0.1.1 " + name + "' to /etc/hosts (./smp setup does this)", e);
        }
    }

    /** MPJ's client connects only once, so first wait until the server is listening. */
    private static void awaitServer(String host, int port, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        IOException last = null;
        while (System.nanoTime() < deadline) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(host, port), 1000);
                return;
            } catch (IOException e) {
                last = e;
                try {
                    Thread.sleep(100);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new CommException("interrupted while waiting for the port-exchange server");
                }
            }
        }
        throw new CommException("the port-exchange server at " + host + ":" + port + " did not answer within "
                + timeout.toSeconds() + " s (" + last + "): is rank 0 running, and are MASTER_ADDR/MASTER_PORT "
                + "the same on every rank?");
    }

    /**
     * MPI.Finalize synchronises with the peers and would hang if one is gone: run it with a deadline and give up
     * quietly (the process is ending anyway).
     */
    static synchronized void finalizeQuietly(MpjEngine engine, Duration timeout) {
        if (!initialized) {
            return;
        }
        initialized = false;
        Duration limit = timeout.compareTo(Duration.ofSeconds(10)) < 0 ? timeout : Duration.ofSeconds(10);
        try {
            engine.call(() -> {
                MPI.Finalize();
                return null;
            }, limit, "MPI.Finalize");
        } catch (RuntimeException e) {
            LOG.warn("MPI.Finalize did not complete ({}); exiting without it", e.getMessage());
        } finally {
            engine.stop();
        }
    }
}
