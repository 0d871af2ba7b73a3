package io.smp4j.comm.socket;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/** Reading the socket connections' messages: whole buffers, and elements straight into a receive's array. */
final class Frames {
    private Frames() {
    }

    /**
     * Reads until {@code b} is full. False on a clean end of stream before the first byte when {@code endOk};
     * an end of stream anywhere else is an {@link EOFException} (the peer died mid-message).
     */
    static boolean readFully(SocketChannel c, ByteBuffer b, boolean endOk) throws IOException {
        boolean first = true;
        while (b.hasRemaining()) {
            if (c.read(b) < 0) {
                if (first && endOk) {
                    return false;
                }
                throw new EOFException("the connection closed in the middle of a message");
            }
            first = false;
        }
        return true;
    }

    /** Reads {@code count} elements of {@code kind} into {@code buf} from {@code offset}, through {@code stage}. */
    static void readInto(SocketChannel c, ByteBuffer stage, int kind, Object buf, int offset, int count)
            throws IOException {
        if (kind == Mailbox.BYTES) {
            readFully(c, ByteBuffer.wrap((byte[]) buf, offset, count), false);
            return;
        }
        float[] f = (float[]) buf;
        int done = 0;
        while (done < count) {
            int n = Math.min(count - done, stage.capacity() / 4);
            stage.clear().limit(n * 4);
            readFully(c, stage, false);
            stage.flip();
            stage.asFloatBuffer().get(f, offset + done, n);
            done += n;
        }
    }
}
