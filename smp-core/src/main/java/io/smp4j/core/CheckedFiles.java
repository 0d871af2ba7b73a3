package io.smp4j.core;

import java.io.BufferedOutputStream;
import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32C;
import java.util.zip.CheckedOutputStream;

/**
 * Checkpoint files that know when they are damaged: the content, then a trailer of the content's CRC32C and a magic
 * number. {@link #read} verifies both before anything is parsed, so a truncated or corrupted file is refused with a
 * clear reason instead of loading wrong numbers.
 */
final class CheckedFiles {
    private static final int MAGIC = 0x534d5043; // "SMPC"

    /** Writes the content. */
    @FunctionalInterface
    interface Writer {
        void write(DataOutputStream out) throws IOException;
    }

    private CheckedFiles() {
    }

    static void write(Path file, Writer content) throws IOException {
        CRC32C crc = new CRC32C();
        try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(file), 1 << 16)) {
            DataOutputStream out = new DataOutputStream(new CheckedOutputStream(os, crc));
            content.write(out);
            out.flush();
            DataOutputStream trailer = new DataOutputStream(os);
            trailer.writeInt((int) crc.getValue());
            trailer.writeInt(MAGIC);
            trailer.flush();
        }
    }

    /** The verified content of {@code file}, ready to parse. */
    static DataInputStream read(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        int n = all.length - 8;
        if (n < 0 || ByteBuffer.wrap(all, all.length - 4, 4).getInt() != MAGIC) {
            throw new IOException("the file ends early (no checksum trailer)");
        }
        CRC32C crc = new CRC32C();
        crc.update(all, 0, n);
        if ((int) crc.getValue() != ByteBuffer.wrap(all, n, 4).getInt()) {
            throw new IOException("its CRC32C checksum does not match its content (the file is corrupted)");
        }
        return new DataInputStream(new ByteArrayInputStream(all, 0, n));
    }
}
