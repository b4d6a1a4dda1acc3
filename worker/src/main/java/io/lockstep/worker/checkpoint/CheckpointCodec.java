package io.lockstep.worker.checkpoint;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * The checkpoint file format, version 1. All numbers little-endian:
 *
 * <pre>
 * magic          4 bytes  "LSCK"
 * version        i32      1
 * step           i64
 * epoch          i32
 * stepInEpoch    i32
 * seed           i64
 * createdMillis  i64
 * configDigest   str                       str   = i32 byte count, UTF-8 bytes
 * configKeys     i32 count, count × (key str, value str), sorted by key
 * normalization  bytes                     bytes = i32 count, the bytes
 * trainerState   bytes
 * params         floats                    floats = i32 count, count × f32 (IEEE 754 bits as they are)
 * updaterState   floats
 * checksum       i32      CRC32C of every byte before it
 * </pre>
 *
 * Float arrays move in bulk through a 1 MiB buffer (a {@code FloatBuffer} view, no per-float
 * calls), so writing runs at the speed of the stream. The CRC32C detects corruption (a flipped
 * bit, a torn or truncated write); it is not a signature and does not detect deliberate tampering.
 * Lengths are not trusted while reading: arrays grow as the bytes actually arrive, so a corrupt
 * length ends in "truncated", not in an attempt to allocate gigabytes.
 */
public final class CheckpointCodec {
    public static final int VERSION = 1;
    private static final byte[] MAGIC = {'L', 'S', 'C', 'K'};
    private static final int BUFFER = 1 << 20;
    /** Array elements allocated before any arrive; more only as they do (a corrupt length cannot ask for 8 GB). */
    private static final int FIRST_ALLOCATION = 1 << 24;

    private CheckpointCodec() {}

    /** Writes {@code c} to {@code out} and flushes; does not close {@code out}. */
    public static void write(Checkpoint c, OutputStream out) throws IOException {
        Writer w = new Writer(out);
        w.bytes(MAGIC, false);
        w.i32(VERSION);
        w.i64(c.step());
        w.i32(c.epoch());
        w.i32(c.stepInEpoch());
        w.i64(c.seed());
        w.i64(c.createdMillis());
        w.str(c.configDigest());
        w.i32(c.configKeys().size());
        for (Map.Entry<String, String> e : c.configKeys().entrySet()) {
            w.str(e.getKey());
            w.str(e.getValue());
        }
        w.bytes(c.normalizationRef(), true);
        w.bytes(c.trainerStateRef(), true);
        w.floats(c.paramsRef());
        w.floats(c.updaterStateRef());
        w.drain();
        w.buf.putInt((int) w.crc.getValue());
        out.write(w.buf.array(), 0, 4);
        out.flush();
    }

    /**
     * Reads one checkpoint, verifying it; does not close {@code in}.
     *
     * @param nameForErrors how to name the source in exceptions (a path)
     * @throws CorruptCheckpointException naming {@code nameForErrors} and what is wrong
     * @throws IOException                when {@code in} itself fails
     */
    public static Checkpoint read(InputStream in, String nameForErrors) throws IOException {
        Reader r = new Reader(in, nameForErrors);
        r.need(4, "magic");
        byte[] magic = new byte[4];
        r.take(4);
        r.buf.get(magic);
        if (!Arrays.equals(magic, MAGIC)) {
            throw r.corrupt("bad magic " + printable(magic) + ", expected \"LSCK\": not a Lockstep checkpoint");
        }
        int version = r.i32("version");
        if (version != VERSION) {
            throw r.corrupt("unsupported format version " + version + " (this build reads version " + VERSION + ")");
        }
        long step = r.i64("step");
        int epoch = r.i32("epoch");
        int stepInEpoch = r.i32("stepInEpoch");
        long seed = r.i64("seed");
        long created = r.i64("createdMillis");
        String digest = r.str("configDigest");
        int keys = r.count("configKeys");
        Map<String, String> configKeys = new LinkedHashMap<>();
        for (int i = 0; i < keys; i++) {
            configKeys.put(r.str("configKeys"), r.str("configKeys"));
        }
        byte[] normalization = r.bytes("normalization");
        byte[] trainerState = r.bytes("trainerState");
        float[] params = r.floats("params");
        float[] updaterState = r.floats("updaterState");
        int computed = (int) r.crc.getValue();
        r.need(4, "checksum");
        int stored = r.buf.getInt();
        if (stored != computed) {
            throw r.corrupt(String.format("checksum mismatch (stored %08x, computed %08x over %,d bytes)",
                stored, computed, r.consumed));
        }
        if (r.buf.hasRemaining() || in.read() >= 0) {
            throw r.corrupt("unexpected data after the checksum at byte " + (r.consumed + 4));
        }
        try {
            return new Checkpoint(step, epoch, stepInEpoch, seed, params, updaterState, digest, configKeys,
                normalization, trainerState, created);
        } catch (RuntimeException e) {
            throw r.corrupt("invalid contents: " + e.getMessage());
        }
    }

    private static String printable(byte[] b) {
        StringBuilder s = new StringBuilder("0x");
        for (byte x : b) s.append(String.format("%02x", x));
        return s.toString();
    }

    /** Buffers fields into {@code buf}; each full buffer goes to the CRC and the stream in one piece. */
    private static final class Writer {
        final OutputStream out;
        final ByteBuffer buf = ByteBuffer.allocate(BUFFER).order(ByteOrder.LITTLE_ENDIAN);
        final CRC32C crc = new CRC32C();

        Writer(OutputStream out) { this.out = out; }

        void room(int n) throws IOException {
            if (buf.remaining() < n) drain();
        }

        void drain() throws IOException {
            crc.update(buf.array(), 0, buf.position());
            out.write(buf.array(), 0, buf.position());
            buf.clear();
        }

        void i32(int v) throws IOException { room(4); buf.putInt(v); }
        void i64(long v) throws IOException { room(8); buf.putLong(v); }
        void str(String s) throws IOException { bytes(s.getBytes(StandardCharsets.UTF_8), true); }

        void bytes(byte[] b, boolean withCount) throws IOException {
            if (withCount) i32(b.length);
            for (int done = 0; done < b.length; ) {
                room(1);
                int n = Math.min(b.length - done, buf.remaining());
                buf.put(b, done, n);
                done += n;
            }
        }

        void floats(float[] f) throws IOException {
            i32(f.length);
            for (int done = 0; done < f.length; ) {
                room(4);
                int n = Math.min(f.length - done, buf.remaining() / 4);
                buf.asFloatBuffer().put(f, done, n);
                buf.position(buf.position() + 4 * n);
                done += n;
            }
        }
    }

    /** Reads through {@code buf}; the CRC covers bytes as they are consumed, so look-ahead is harmless. */
    private static final class Reader {
        final InputStream in;
        final String name;
        final ByteBuffer buf = ByteBuffer.allocate(BUFFER).order(ByteOrder.LITTLE_ENDIAN).limit(0);
        final CRC32C crc = new CRC32C();
        long consumed;

        Reader(InputStream in, String name) {
            this.in = in;
            this.name = name;
        }

        CorruptCheckpointException corrupt(String reason) {
            return new CorruptCheckpointException(name, reason);
        }

        /** Makes at least {@code n} (≤ buffer size) unread bytes available, or fails as truncated. */
        void need(int n, String field) throws IOException {
            if (buf.remaining() >= n) return;
            buf.compact();
            while (buf.position() < n) {
                int got = in.read(buf.array(), buf.position(), buf.capacity() - buf.position());
                if (got < 0) {
                    throw corrupt("truncated: file ends in " + field + " after " + (consumed + buf.position())
                        + " bytes");
                }
                buf.position(buf.position() + got);
            }
            buf.flip();
        }

        /** Marks {@code n} available bytes as consumed, into the CRC. */
        void take(int n) {
            crc.update(buf.array(), buf.position(), n);
            consumed += n;
        }

        int i32(String field) throws IOException {
            need(4, field);
            take(4);
            return buf.getInt();
        }

        long i64(String field) throws IOException {
            need(8, field);
            take(8);
            return buf.getLong();
        }

        int count(String field) throws IOException {
            int n = i32(field);
            if (n < 0) throw corrupt("negative length " + n + " for " + field);
            return n;
        }

        String str(String field) throws IOException {
            return new String(bytes(field), StandardCharsets.UTF_8);
        }

        byte[] bytes(String field) throws IOException {
            int count = count(field);
            byte[] out = new byte[Math.min(count, FIRST_ALLOCATION)];
            for (int done = 0; done < count; ) {
                int n = Math.min(count - done, BUFFER);
                need(n, field);
                if (out.length < done + n) out = Arrays.copyOf(out, (int) Math.min(count, 2L * out.length));
                take(n);
                buf.get(out, done, n);
                done += n;
            }
            return out;
        }

        float[] floats(String field) throws IOException {
            int count = count(field);
            float[] out = new float[Math.min(count, FIRST_ALLOCATION)];
            for (int done = 0; done < count; ) {
                int n = Math.min(count - done, BUFFER / 4);
                need(4 * n, field);
                if (out.length < done + n) out = Arrays.copyOf(out, (int) Math.min(count, 2L * out.length));
                take(4 * n);
                buf.asFloatBuffer().get(out, done, n);
                buf.position(buf.position() + 4 * n);
                done += n;
            }
            return out;
        }
    }
}
