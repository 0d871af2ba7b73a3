package io.smp4j.comm.socket;

import io.smp4j.comm.CommException;
import io.smp4j.comm.Communicator;
import io.smp4j.comm.HostIdentity;
import io.smp4j.comm.JobFiles;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Point-to-point between the ranks of one host over Unix domain sockets, beside MPJ Express (which stays for ranks on
 * other hosts). On a 2-core machine a 4 KB message took about 0.5 ms one way through MPJ niodev and 0.02 ms through a
 * Unix socket; and the sockets are read by blocking threads, so a waiting rank sleeps in the kernel instead of
 * polling, leaving the cores to the ranks that compute.
 *
 * <p>One connection per ordered pair of ranks on the host, written only by the sender (under a lock, from the calling
 * thread) and read only by one reader thread of the receiver, so the messages of one pair arrive in the order they
 * were sent. A message is a 20-byte header (context of the group, tag, element kind, count) and its elements; the
 * reader puts them straight into a posted receive's array, or aside until one is posted ({@link Mailbox}). A peer
 * that exits or dies closes its connections: receives from it fail at once, naming it. A send that cannot finish
 * within the timeout (a stopped peer that no longer reads) closes its connection and fails.
 *
 * <p>The socket files are unlinked once every rank has connected, so nothing is left behind, even after a crash.
 */
public final class HostSockets implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HostSockets.class);
    /** System property: {@code false} sends every message through MPJ Express, as before. */
    public static final String PROPERTY = "smp.comm.sockets";
    static final int HEADER = 20;
    private static final int CHUNK = 1 << 20;

    private final int me;
    private final Duration timeout;
    /** Outgoing connection per local peer's world rank (fixed after {@link #open}). */
    private final Map<Integer, Outgoing> out = new HashMap<>();
    private final List<SocketChannel> in = new ArrayList<>();
    private final Map<Long, Mailbox> mailboxes = new ConcurrentHashMap<>();
    private final BufferPool pool = new BufferPool();
    /** Why a source's connection is gone, by world rank. */
    private final Map<Integer, String> gone = new ConcurrentHashMap<>();
    private volatile boolean closed;

    private HostSockets(int me, Duration timeout) {
        this.me = me;
        this.timeout = timeout;
    }

    /** Whether on-host messages take the sockets ({@value #PROPERTY}, default true). */
    public static boolean enabled() {
        return !"false".equalsIgnoreCase(System.getProperty(PROPERTY, "true").trim());
    }

    /**
     * Collective over {@code world} (whose messages still go through the network transport): connects every pair of
     * ranks on one host. Returns null when no other rank shares this host (or no rank could open a socket).
     */
    public static HostSockets open(Communicator world, Duration timeout) {
        ServerSocketChannel server = null;
        Path path = socketPath();
        // Socket files of killed jobs (under mpirun no launcher of ours cleans up): those whose creator is gone.
        JobFiles.removeStale(List.of(path.getParent()));
        try {
            server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(path), 256);
        } catch (IOException | UnsupportedOperationException e) {
            LOG.debug("no Unix domain socket at {} ({}): on-host messages go through MPJ Express", path, e.toString());
            closeQuietly(server);
            server = null;
        }
        String mine = HostIdentity.of() + "\n" + (server == null ? "" : path.toString());
        byte[][] all = world.allGather(mine.getBytes(StandardCharsets.UTF_8));
        HostSockets s = new HostSockets(world.rank(), timeout);
        try {
            List<Integer> local = new ArrayList<>();
            for (int q = 0; q < all.length; q++) {
                String[] hp = new String(all[q], StandardCharsets.UTF_8).split("\n", -1);
                if (q != world.rank() && server != null && !hp[1].isEmpty() && mine.startsWith(hp[0] + "\n")) {
                    local.add(q);
                    SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(hp[1]));
                    c.write(ByteBuffer.allocate(4).putInt(0, world.rank()));
                    s.out.put(q, new Outgoing(c, q, timeout));
                }
            }
            if (server != null) {
                s.accept(server, local.size());
            }
            world.barrier(); // every rank has connected: the finally below removes the file and the server
            if (local.isEmpty()) {
                s.close();
                return null;
            }
            for (SocketChannel c : s.in) {
                Thread t = new Thread(() -> s.read(c), "smp-socket-reader");
                t.setDaemon(true);
                t.start();
            }
            LOG.debug("rank {}: Unix domain sockets to the ranks {} of this host", world.rank(), local);
            return s;
        } catch (IOException e) {
            s.close();
            throw new CommException("rank " + world.rank() + " could not connect to the ranks of its host over Unix "
                    + "domain sockets: " + e + " (set -D" + PROPERTY + "=false to use MPJ Express only)", e);
        } finally {
            try {
                Files.deleteIfExists(path);
            } catch (IOException e) {
                LOG.debug("could not delete {}: {}", path, e.toString());
            }
            closeQuietly(server);
        }
    }

    /** A socket file name short enough for the 108-byte limit of Unix socket addresses. */
    private static Path socketPath() {
        String name = JobFiles.name(".sock");
        Path tmp = Path.of(System.getProperty("java.io.tmpdir", "/tmp"));
        return tmp.resolve(name).toString().length() < 100 ? tmp.resolve(name) : Path.of("/tmp", name);
    }

    private void accept(ServerSocketChannel server, int n) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        server.configureBlocking(false);
        try (Selector sel = Selector.open()) {
            server.register(sel, SelectionKey.OP_ACCEPT);
            while (in.size() < n) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) {
                    throw new CommException("rank " + me + ": only " + in.size() + " of the " + n + " ranks of this "
                            + "host connected within " + timeout.toSeconds() + " s");
                }
                sel.select(left);
                sel.selectedKeys().clear();
                for (SocketChannel c; (c = server.accept()) != null; ) {
                    c.configureBlocking(true);
                    in.add(c);
                }
            }
        }
    }

    /** Whether world rank {@code q} is reached through these sockets. */
    boolean local(int q) {
        return out.containsKey(q);
    }

    private Mailbox mailbox(long context) {
        return mailboxes.computeIfAbsent(context, k -> new Mailbox(pool));
    }

    /** Sends {@code count} elements to world rank {@code dest}; returns once the kernel took them. */
    void send(int dest, long context, int tag, int kind, Object buf, int offset, int count) {
        out.get(dest).send(context, tag, kind, buf, offset, count);
    }

    /** Posts a receive from world rank {@code source}. */
    Mailbox.Recv recv(int source, long context, int tag, int kind, Object buf, int offset, int length) {
        Mailbox.Recv r = new Mailbox.Recv(source, tag, kind, buf, offset, length);
        mailbox(context).post(r, gone::get);
        return r;
    }

    /** The loop of one incoming connection's reader thread. */
    private void read(SocketChannel c) {
        ByteBuffer header = ByteBuffer.allocateDirect(HEADER).order(ByteOrder.nativeOrder());
        ByteBuffer stage = ByteBuffer.allocateDirect(CHUNK).order(ByteOrder.nativeOrder());
        int source = -1;
        try {
            ByteBuffer hello = ByteBuffer.allocate(4);
            if (!Frames.readFully(c, hello, true)) {
                return;
            }
            source = hello.getInt(0);
            while (Frames.readFully(c, header.clear(), true)) {
                long context = header.getLong(0);
                int tag = header.getInt(8);
                int kind = header.getInt(12);
                int count = header.getInt(16);
                Mailbox box = mailbox(context);
                Mailbox.Recv r = box.take(source, tag);
                if (r != null && r.misfit(kind, count) == null) {
                    Frames.readInto(c, stage, kind, r.buf, r.offset, count);
                    r.complete(count);
                } else {
                    int bytes = kind == Mailbox.FLOATS ? count * 4 : count;
                    byte[] data = pool.take(bytes);
                    Frames.readFully(c, ByteBuffer.wrap(data, 0, bytes), false);
                    Mailbox.Message m = new Mailbox.Message(kind, count, data);
                    if (r != null) {
                        box.fill(r, m); // fails it with the reason it does not fit
                    } else {
                        box.arrived(source, tag, m);
                    }
                }
            }
            sourceGone(source, "rank " + source + " closed its connection to rank " + me
                    + " (it exited or closed its communicator)");
        } catch (IOException | RuntimeException e) {
            if (!closed && source >= 0) {
                sourceGone(source, "the connection from rank " + source + " to rank " + me + " failed (" + e
                        + "): rank " + source + " died?");
            }
        }
    }

    private void sourceGone(int source, String why) {
        gone.put(source, why);
        for (Mailbox b : mailboxes.values()) {
            b.sourceGone(source, why);
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Outgoing o : out.values()) {
            o.close();
        }
        for (SocketChannel c : in) {
            closeQuietly(c);
        }
    }

    private static void closeQuietly(AutoCloseable c) {
        if (c != null) {
            try {
                c.close();
            } catch (Exception e) {
                LOG.debug("close: {}", e.toString());
            }
        }
    }
}
