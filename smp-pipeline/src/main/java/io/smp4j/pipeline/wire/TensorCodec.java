package io.smp4j.pipeline.wire;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.smp4j.pipeline.djl.DjlInternals;
import java.io.ByteArrayInputStream;
import java.io.DataInput;
import java.io.DataInputStream;
import java.io.DataOutput;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.zip.CRC32C;

/**
 * smp4j's one format for tensors that leave a process: between pipeline stages, in step outputs sent to every rank,
 * in checkpoint files. Keeps each array's data type and shape, so that non-float32 arrays (integer labels, half
 * precision later) travel as they are.
 *
 * <p>A list is a {@link Header} (count; per array its data type name, rank and dimensions; the data's byte count
 * and CRC32C) followed by the arrays' bytes, one after the other, C-contiguous and little-endian (the byte order of
 * every platform DJL's PyTorch engine runs on). The header and the data can travel as one message ({@link #encode})
 * or as two (the stage link sends the data from a reused staging buffer).
 */
public final class TensorCodec {
    static {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new ExceptionInInitializerError("smp4j's tensor format is little-endian; this platform is not");
        }
    }

    private TensorCodec() {
    }

    /**
     * What a list of arrays looks like, without its data.
     *
     * @param types     data type per array
     * @param shapes    shape per array
     * @param crc32c    checksum of the data bytes (CRC32C), or 0 where not computed yet
     */
    public record Header(List<DataType> types, List<Shape> shapes, int crc32c) {
        public Header {
            types = List.copyOf(types);
            shapes = List.copyOf(shapes);
            if (types.size() != shapes.size()) {
                throw new IllegalArgumentException(types.size() + " data types for " + shapes.size() + " shapes");
            }
        }

        /** The header of {@code list}'s arrays, checksum 0. */
        public static Header of(NDList list) {
            List<DataType> t = new ArrayList<>();
            List<Shape> s = new ArrayList<>();
            for (NDArray a : list) {
                t.add(a.getDataType());
                s.add(a.getShape());
            }
            return new Header(t, s, 0);
        }

        public int count() {
            return types.size();
        }

        public long bytes(int i) {
            return shapes.get(i).size() * types.get(i).getNumOfBytes();
        }

        /** Bytes of all arrays' data together. */
        public long dataBytes() {
            long n = 0;
            for (int i = 0; i < count(); i++) {
                n += bytes(i);
            }
            return n;
        }

        public Header withCrc(int crc) {
            return new Header(types, shapes, crc);
        }

        public void write(DataOutput out) throws IOException {
            out.writeInt(count());
            for (int i = 0; i < count(); i++) {
                writeArrayHeader(out, types.get(i), shapes.get(i));
            }
            out.writeLong(dataBytes());
            out.writeInt(crc32c);
        }

        public static Header read(DataInput in) throws IOException {
            int n = in.readInt();
            if (n < 0 || n > 1 << 16) {
                throw new IOException("not a tensor list header (" + n + " arrays)");
            }
            List<DataType> t = new ArrayList<>();
            List<Shape> s = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                t.add(readType(in));
                s.add(readShape(in));
            }
            Header h = new Header(t, s, 0);
            long bytes = in.readLong();
            if (bytes != h.dataBytes()) {
                throw new IOException("tensor list header says " + bytes + " data bytes, its shapes need "
                        + h.dataBytes());
            }
            return h.withCrc(in.readInt());
        }

        public byte[] toBytes() {
            ByteBuffer b = ByteBuffer.allocate(size());
            writeTo(b);
            return b.array();
        }

        /** Bytes of {@link #write}'s output. */
        public int size() {
            int n = 4 + 8 + 4;
            for (int i = 0; i < count(); i++) {
                n += 2 + types.get(i).name().length() + 4 + 8 * shapes.get(i).dimension();
            }
            return n;
        }

        /** The bytes {@link #write} writes, put into {@code out} (no allocation: the stage link's reused buffer). */
        public void writeTo(ByteBuffer out) {
            out.putInt(count());
            for (int i = 0; i < count(); i++) {
                String name = types.get(i).name(); // ASCII: writeUTF's bytes
                out.putShort((short) name.length());
                for (int c = 0; c < name.length(); c++) {
                    out.put((byte) name.charAt(c));
                }
                out.putInt(shapes.get(i).dimension());
                for (long d : shapes.get(i).getShape()) {
                    out.putLong(d);
                }
            }
            out.putLong(dataBytes());
            out.putInt(crc32c);
        }

        public static Header fromBytes(byte[] bytes, int length) {
            try {
                return read(new DataInputStream(new ByteArrayInputStream(bytes, 0, length)));
            } catch (IOException e) {
                throw new IllegalArgumentException("a tensor list header cannot be read: " + e.getMessage(), e);
            }
        }

        /** E.g. {@code [float32 (4, 64), int64 (4)]}, for error messages. */
        @Override
        public String toString() {
            List<String> parts = new ArrayList<>();
            for (int i = 0; i < count(); i++) {
                parts.add(types.get(i).toString().toLowerCase(Locale.ROOT) + " " + shapes.get(i));
            }
            return parts.toString();
        }
    }

    /** Every array of {@code list} as one byte string: header then data. */
    public static byte[] encode(NDList list) {
        Header h = Header.of(list);
        ByteBuffer data = ByteBuffer.allocate(Math.toIntExact(h.dataBytes())).order(ByteOrder.LITTLE_ENDIAN);
        for (NDArray a : list) {
            DjlInternals.copyToHost(a, data);
        }
        byte[] head = h.withCrc(crc32c(data.array(), 0, data.capacity())).toBytes();
        byte[] out = new byte[head.length + data.capacity()];
        System.arraycopy(head, 0, out, 0, head.length);
        System.arraycopy(data.array(), 0, out, head.length, data.capacity());
        return out;
    }

    /** The arrays of {@link #encode}'s output, created on {@code manager}; a corrupted payload is refused. */
    public static NDList decode(NDManager manager, byte[] bytes) {
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes));
        Header h;
        try {
            h = Header.read(in);
        } catch (IOException e) {
            throw new IllegalArgumentException("not a tensor list: " + e.getMessage(), e);
        }
        int start = bytes.length - Math.toIntExact(h.dataBytes());
        if (start < 0 || crc32c(bytes, start, bytes.length - start) != h.crc32c()) {
            throw new IllegalArgumentException("tensor list " + h + " arrived corrupted (checksum mismatch)");
        }
        return arrays(manager, h, ByteBuffer.wrap(bytes, start, bytes.length - start));
    }

    /** The arrays {@code header} describes, their bytes read from {@code data}'s position on. */
    public static NDList arrays(NDManager manager, Header header, ByteBuffer data) {
        NDList out = new NDList(header.count());
        ByteBuffer d = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < header.count(); i++) {
            out.add(DjlInternals.fromHost(manager, d, header.shapes().get(i), header.types().get(i)));
            d.position(d.position() + Math.toIntExact(header.bytes(i)));
        }
        return out;
    }

    /** One array to a stream: data type, shape, then its bytes (checkpoint files). */
    public static void write(DataOutputStream out, NDArray a) throws IOException {
        writeArrayHeader(out, a.getDataType(), a.getShape());
        ByteBuffer data = ByteBuffer.allocate(Math.toIntExact(a.size() * a.getDataType().getNumOfBytes()));
        DjlInternals.copyToHost(a, data);
        out.write(data.array());
    }

    /** What {@link #write} wrote: the array's type, shape and bytes (read, not yet an array). */
    public record Stored(DataType type, Shape shape, ByteBuffer data) {
        public NDArray toArray(NDManager manager) {
            return DjlInternals.fromHost(manager, data, shape, type);
        }
    }

    public static Stored read(DataInputStream in) throws IOException {
        DataType type = readType(in);
        Shape shape = readShape(in);
        byte[] bytes = new byte[Math.toIntExact(shape.size() * type.getNumOfBytes())];
        in.readFully(bytes);
        return new Stored(type, shape, ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN));
    }

    public static int crc32c(byte[] bytes, int offset, int length) {
        CRC32C crc = new CRC32C();
        crc.update(bytes, offset, length);
        return (int) crc.getValue();
    }

    private static void writeArrayHeader(DataOutput out, DataType type, Shape shape) throws IOException {
        out.writeUTF(type.name());
        out.writeInt(shape.dimension());
        for (long d : shape.getShape()) {
            out.writeLong(d);
        }
    }

    private static DataType readType(DataInput in) throws IOException {
        String name = in.readUTF();
        try {
            return DataType.valueOf(name);
        } catch (IllegalArgumentException e) {
            throw new IOException("unknown data type '" + name + "'");
        }
    }

    private static Shape readShape(DataInput in) throws IOException {
        int dims = in.readInt();
        if (dims < 0 || dims > 32) {
            throw new IOException("an array of rank " + dims + " is not plausible");
        }
        long[] s = new long[dims];
        for (int i = 0; i < dims; i++) {
            s[i] = in.readLong();
            if (s[i] < 0) {
                throw new IOException("negative dimension " + s[i]);
            }
        }
        return new Shape(s);
    }
}
