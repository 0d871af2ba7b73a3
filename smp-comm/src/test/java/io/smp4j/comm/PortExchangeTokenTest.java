package io.smp4j.comm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.smp4j.comm.mpj.PortExchangeServer;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.util.Collections;
import org.junit.jupiter.api.Test;

/** Who may join: only ranks that present the job's token, on the address the server was told to bind. */
class PortExchangeTokenTest {
    /** MPJ's own greeting, as niodev sends it; returns the peer table, or null when the server hung up. */
    static String mpjHello(int port, int rank) throws IOException {
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(10_000);
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            out.writeUTF("Sending Info");
            out.writeInt(40000 + rank);
            out.writeInt(41000 + rank);
            out.writeInt(rank);
            out.flush();
            try {
                return new DataInputStream(s.getInputStream()).readUTF();
            } catch (EOFException | java.net.SocketException e) {
                return null;
            }
        }
    }

    @Test
    void onlyRanksWithTheTokenJoinAndTheJobGoesOn() throws Exception {
        try (PortExchangeServer server = new PortExchangeServer("127.0.0.1", 0, 2, "s3cret")) {
            int port = server.port();
            // An intruder greeting as rank 0 without the token: refused, connection closed.
            assertEquals(null, mpjHello(port, 0));
            // A wrong token: refused with a clear error on the client side.
            CommException wrong = assertThrows(CommException.class,
                    () -> PortExchangeServer.presentToken("127.0.0.1", port, 1, "guess", 5000));
            assertEquals("the port-exchange server at 127.0.0.1:" + port + " refused rank 1: its job token "
                    + "(SMP_JOB_TOKEN) is not this job's, or the rank joined already", wrong.getMessage());
            assertEquals(2, server.refused());
            // The real ranks: token first, then MPJ's greeting; both get the table.
            PortExchangeServer.presentToken("127.0.0.1", port, 0, "s3cret", 5000);
            PortExchangeServer.presentToken("127.0.0.1", port, 1, "s3cret", 5000);
            // Even with the token, a rank is admitted once.
            assertThrows(CommException.class, () -> PortExchangeServer.presentToken("127.0.0.1", port, 0, "s3cret",
                    5000));
            assertEquals(3, server.refused());
            String[] tables = new String[2];
            Thread r1 = new Thread(() -> {
                try {
                    tables[1] = mpjHello(port, 1);
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            r1.start();
            tables[0] = mpjHello(port, 0);
            r1.join(10_000);
            String want = "#Peer Information;127.0.0.1@41000@40000@0@0;127.0.0.1@41001@40001@1@0";
            assertEquals(want, tables[0]);
            assertEquals(want, tables[1]);
            // The server marks itself finished right after writing the last table: the clients may read it first.
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (!server.finished() && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertTrue(server.finished());
        }
    }

    @Test
    void bindsOnlyTheAddressItIsTold() throws Exception {
        InetAddress other = null;
        for (NetworkInterface nif : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            for (InetAddress a : Collections.list(nif.getInetAddresses())) {
                if (a instanceof Inet4Address && !a.isLoopbackAddress()) {
                    other = a;
                }
            }
        }
        try (PortExchangeServer server = new PortExchangeServer("127.0.0.1", 0, 2, "s3cret")) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", server.port()), 2000);
            }
            if (other != null) {
                InetAddress target = other;
                assertThrows(ConnectException.class, () -> {
                    try (Socket s = new Socket()) {
                        s.connect(new InetSocketAddress(target, server.port()), 2000);
                    }
                }, "reachable on " + other);
            }
        }
    }
}
