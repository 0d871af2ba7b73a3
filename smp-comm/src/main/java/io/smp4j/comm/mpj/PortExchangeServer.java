package io.smp4j.comm.mpj;

import io.smp4j.comm.CommException;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one service MPJ Express niodev needs at start-up (normally run by {@code mpjrun}): every rank connects,
 * reports the two ports it bound, and receives the address table of all ranks. Running it ourselves (in the
 * local launcher, or in rank 0 under mpirun) makes MPJ's daemons unnecessary.
 *
 * <p>Protocol (MPJ 0.44, {@code xdev.niodev.NIODevice}): the client sends {@code writeUTF("Sending Info")},
 * {@code writeInt(writePort)}, {@code writeInt(readPort)}, {@code writeInt(rank)}; once all N ranks have
 * reported, each gets one {@code writeUTF("#Peer Information;ip@rport@wport@rank@0;...")} in rank order.
 * Connections that send nothing (a rank probing whether the server is up) are ignored.
 *
 * <p>Job token: with one, a rank first proves it belongs to the job on a separate connection
 * ({@code writeUTF("smp4j-auth")}, {@code writeUTF(token)}, {@code writeInt(rank)}, answered {@code "ok"} or
 * {@code "refused"}); MPJ's own greeting (which cannot carry a token) is then accepted only for a rank that did so,
 * from the same address. Anything else is refused and logged, and the job goes on. MPJ's data connections that follow
 * are not authenticated: jobs belong on a private network.
 */
public final class PortExchangeServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PortExchangeServer.class);
    private static final String HELLO = "Sending Info";
    private static final String AUTH = "smp4j-auth";

    private final ServerSocket server;
    private final int worldSize;
    private final byte[] token;
    /** Rank -> address that presented the token. Only the serving thread touches it. */
    private final Map<Integer, String> admitted = new TreeMap<>();
    private volatile int refused;
    private final Thread thread;
    private volatile Throwable failure;
    private volatile boolean finished;

    /**
     * Binds {@code bindAddress:port} (port 0 picks a free one) and serves one job start in a daemon thread.
     */
    public PortExchangeServer(String bindAddress, int port, int worldSize) {
        this(bindAddress, port, worldSize, null);
    }

    /** As above; a non-null {@code token} admits only ranks that present it (see the class comment). */
    public PortExchangeServer(String bindAddress, int port, int worldSize, String token) {
        this.worldSize = worldSize;
        this.token = token == null ? null : token.getBytes(StandardCharsets.UTF_8);
        try {
            server = new ServerSocket();
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(InetAddress.getByName(bindAddress), port), 256);
        } catch (IOException e) {
            throw new CommException("cannot bind the port-exchange server to " + bindAddress + ":" + port
                    + " (" + e.getMessage() + "); choose another MASTER_PORT or a local MASTER_ADDR", e);
        }
        thread = new Thread(this::serve, "smp-port-exchange");
        thread.setDaemon(true);
        thread.start();
    }

    /** The port actually bound. */
    public int port() {
        return server.getLocalPort();
    }

    /** True once every rank received the table. */
    public boolean finished() {
        return finished;
    }

    /** Connections refused so far (wrong or missing token, unknown rank). */
    public int refused() {
        return refused;
    }

    /** Null while fine, or what went wrong. */
    public Throwable failure() {
        return failure;
    }

    private record Peer(Socket socket, DataOutputStream out, String ip, int writePort, int readPort, int rank) {
    }

    private void serve() {
        Map<Integer, Peer> peers = new TreeMap<>();
        List<Socket> all = new ArrayList<>();
        try {
            while (peers.size() < worldSize) {
                Socket s = server.accept();
                all.add(s);
                Peer p = readHello(s);
                if (p == null) {
                    continue;
                }
                if (token != null && !p.ip.equals(admitted.get(p.rank))) {
                    refused++;
                    LOG.warn("port exchange: refused a join as rank {} from {}: it did not present the job token",
                            p.rank, p.ip);
                    s.close();
                    continue;
                }
                if (p.rank < 0 || p.rank >= worldSize || peers.containsKey(p.rank)) {
                    LOG.warn("port exchange: ignoring rank {} from {} (world size {}, already seen: {})",
                            p.rank, p.ip, worldSize, peers.containsKey(p.rank));
                    s.close();
                    continue;
                }
                peers.put(p.rank, p);
                LOG.debug("port exchange: rank {} at {} ({} of {})", p.rank, p.ip, peers.size(), worldSize);
            }
            StringBuilder table = new StringBuilder("#Peer Information");
            for (Peer p : peers.values()) {
                table.append(';').append(p.ip).append('@').append(p.readPort).append('@').append(p.writePort)
                        .append('@').append(p.rank).append("@0");
            }
            for (Peer p : peers.values()) {
                p.out.writeUTF(table.toString());
                p.out.flush();
            }
            finished = true;
        } catch (IOException e) {
            if (!server.isClosed()) {
                failure = e;
                LOG.error("port exchange failed: {}", e.toString());
            }
        } finally {
            for (Socket s : all) {
                try {
                    s.close();
                } catch (IOException ignored) {
                    // best effort
                }
            }
        }
    }

    private Peer readHello(Socket s) throws IOException {
        try {
            s.setSoTimeout(30_000);
            DataInputStream in = new DataInputStream(s.getInputStream());
            String hello = in.readUTF();
            if (AUTH.equals(hello)) {
                admit(s, in);
                return null;
            }
            if (!HELLO.equals(hello)) {
                LOG.warn("port exchange: unexpected greeting '{}' from {}", hello, s.getRemoteSocketAddress());
                s.close();
                return null;
            }
            int wport = in.readInt();
            int rport = in.readInt();
            int rank = in.readInt();
            return new Peer(s, new DataOutputStream(s.getOutputStream()), s.getInetAddress().getHostAddress(),
                    wport, rport, rank);
        } catch (EOFException | SocketTimeoutException e) {
            s.close(); // a probe, or a client that went away: not a rank
            return null;
        }
    }

    /** A rank presenting the job token: remembered with its address, answered "ok", or refused. */
    private void admit(Socket s, DataInputStream in) throws IOException {
        byte[] presented = in.readUTF().getBytes(StandardCharsets.UTF_8);
        int rank = in.readInt();
        String ip = s.getInetAddress().getHostAddress();
        DataOutputStream out = new DataOutputStream(s.getOutputStream());
        boolean ok = token != null && MessageDigest.isEqual(token, presented) && rank >= 0
                && rank < worldSize && !admitted.containsKey(rank);
        if (ok) {
            admitted.put(rank, ip);
        } else if (token != null) {
            refused++;
            LOG.warn("port exchange: refused a join as rank {} from {}: wrong job token, unknown or repeated rank",
                    rank, ip);
        }
        out.writeUTF(ok || token == null ? "ok" : "refused");
        out.flush();
        s.close();
    }

    /**
     * Client side: proves to the server at {@code host:port} that this rank belongs to the job. Call before MPJ's
     * MPI.Init, which then greets the server itself.
     */
    public static void presentToken(String host, int port, int rank, String token, int timeoutMillis) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), timeoutMillis);
            s.setSoTimeout(timeoutMillis);
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            out.writeUTF(AUTH);
            out.writeUTF(token);
            out.writeInt(rank);
            out.flush();
            String answer = new DataInputStream(s.getInputStream()).readUTF();
            if (!"ok".equals(answer)) {
                throw new CommException("the port-exchange server at " + host + ":" + port + " refused rank " + rank
                        + ": its job token (SMP_JOB_TOKEN) is not this job's, or the rank joined already");
            }
        } catch (IOException e) {
            throw new CommException("cannot present the job token to the port-exchange server at " + host + ":"
                    + port + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        try {
            server.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }
}
