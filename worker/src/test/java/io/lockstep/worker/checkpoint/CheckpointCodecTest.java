package io.lockstep.worker.checkpoint;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;

import static io.lockstep.worker.checkpoint.TestCheckpoints.assertBitIdentical;
import static io.lockstep.worker.checkpoint.TestCheckpoints.sample;
import static org.junit.jupiter.api.Assertions.*;

class CheckpointCodecTest {
    private static final Logger log = LoggerFactory.getLogger(CheckpointCodecTest.class);

    static byte[] encode(Checkpoint c) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        CheckpointCodec.write(c, out);
        return out.toByteArray();
    }

    static Checkpoint decode(byte[] bytes) throws IOException {
        return CheckpointCodec.read(new ByteArrayInputStream(bytes), "runs/x/ckpt-000000001234.lsck");
    }

    static String corruption(byte[] bytes) {
        return assertThrows(CorruptCheckpointException.class, () -> decode(bytes)).getMessage();
    }

    @Test
    void roundTripOf3MillionFloatsIsBitExact() throws IOException {
        Checkpoint c = sample(1234, 3_000_000);
        byte[] bytes = encode(c);
        assertEquals(4 * (3_000_000 + 1_500_000), bytes.length, 300, "floats take 4 bytes each, plus a small header");
        assertBitIdentical(c, decode(bytes));
    }

    @Test
    void layoutIsLittleEndianAfterMagic() throws IOException {
        byte[] bytes = encode(new Checkpoint(0x0102030405L, 3, 4, 5, new float[] {1.5f}, null, "d", null, null, null, 6));
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals("LSCK", new String(bytes, 0, 4));
        assertEquals(CheckpointCodec.VERSION, b.getInt(4));
        assertEquals(0x0102030405L, b.getLong(8));
        assertEquals(3, b.getInt(16));
        assertEquals(4, b.getInt(20));
        assertEquals(1.5f, b.getFloat(bytes.length - 12), "last param before the updater count and checksum");
    }

    @Test
    void emptyCheckpointRoundTrips() throws IOException {
        Checkpoint c = new Checkpoint(0, 0, 0, 0, null, null, null, null, null, null, 0);
        assertBitIdentical(c, decode(encode(c)));
    }

    @Test
    void otherFilesAreBadMagic() {
        String msg = corruption(new byte[] {'P', 'K', 3, 4, 0, 0, 0, 0});
        assertTrue(msg.startsWith("runs/x/ckpt-000000001234.lsck: bad magic 0x504b0304"), msg);
    }

    @Test
    void anotherVersionIsUnsupported() throws IOException {
        byte[] bytes = encode(sample(1, 10));
        bytes[4] = 9;
        assertEquals("runs/x/ckpt-000000001234.lsck: unsupported format version 9 (this build reads version 1)",
            corruption(bytes));
    }

    @Test
    void everyTruncationIsDetected() throws IOException {
        byte[] bytes = encode(sample(1, 1000));
        for (int len : new int[] {0, 3, 7, 30, 100, 2000, bytes.length - 5, bytes.length - 4, bytes.length - 1}) {
            String msg = corruption(Arrays.copyOf(bytes, len));
            assertTrue(msg.startsWith("runs/x/ckpt-000000001234.lsck: truncated: file ends in "), msg);
            assertTrue(msg.endsWith("after " + len + " bytes"), msg);
        }
        assertTrue(corruption(Arrays.copyOf(bytes, 2000)).contains("ends in params"));
        assertTrue(corruption(Arrays.copyOf(bytes, bytes.length - 1)).contains("ends in checksum"));
    }

    @Test
    void aFlippedBitIsAChecksumMismatch() throws IOException {
        byte[] bytes = encode(sample(1, 1000));
        for (int at : new int[] {9, 20, 2000, bytes.length - 6, bytes.length - 1}) {
            byte[] bad = bytes.clone();
            bad[at] ^= 0x10;
            String msg = corruption(bad);
            assertTrue(msg.startsWith("runs/x/ckpt-000000001234.lsck: checksum mismatch (stored "), at + ": " + msg);
        }
    }

    @Test
    void dataAfterTheChecksumIsRejected() throws IOException {
        byte[] bytes = encode(sample(1, 10));
        String msg = corruption(Arrays.copyOf(bytes, bytes.length + 1));
        assertTrue(msg.contains("unexpected data after the checksum"), msg);
    }

    @Test
    void aCorruptLengthEndsInTruncatedNotInAHugeAllocation() throws IOException {
        Checkpoint c = new Checkpoint(1, 0, 1, 1, new float[10], null, "", null, null, null, 0);
        byte[] bytes = encode(c);
        int paramsCount = bytes.length - 4 - 4 - 40 - 4; // checksum, updater count, 10 floats, params count
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(paramsCount, Integer.MAX_VALUE);
        assertTrue(corruption(bytes).contains("truncated: file ends in params"));
    }

    /** Not asserted (shared machine): a line in the test log. */
    @Test
    void writeSpeedFor25MillionFloats(@TempDir Path dir) throws IOException {
        Checkpoint c = sample(25_000_000, 25_000_000);
        long bytes = 4L * (c.paramsRef().length + c.updaterStateRef().length);
        OutputStream discard = OutputStream.nullOutputStream();
        CheckpointCodec.write(c, discard); // warm-up
        long t0 = System.nanoTime();
        CheckpointCodec.write(c, discard);
        long t1 = System.nanoTime();
        LocalCheckpointStore store = new LocalCheckpointStore(dir, 2);
        store.write(c);
        long t2 = System.nanoTime();
        Checkpoint back = store.latestValid(w -> fail(w)).orElseThrow();
        long t3 = System.nanoTime();
        assertEquals(c.step(), back.step());
        log.info("checkpoint of {} params + {} updater floats ({} MB): codec alone {} MB/s; written to disk incl. "
                + "fsync {} MB/s; read back and verified (first, cold run) {} MB/s", c.paramsRef().length,
            c.updaterStateRef().length, bytes / 1_000_000,
            mbps(bytes, t1 - t0), mbps(bytes, t2 - t1), mbps(bytes, t3 - t2));
    }

    private static long mbps(long bytes, long nanos) {
        return Math.round(bytes / 1e6 / (nanos / 1e9));
    }
}
