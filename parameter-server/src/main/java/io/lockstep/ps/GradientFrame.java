package io.lockstep.ps;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import java.nio.ByteOrder;

/**
 * Flyweight over one gradient frame: a fixed 48-byte little-endian header followed by
 * {@code length} float32 values. The same layout travels both ways: workers send their
 * batch's mean gradient for a chunk, shards answer with the sample-weighted average.
 *
 * <pre>
 *  0  long  jobId        frames of another job are dropped
 *  8  long  step         global step number
 * 16  int   rank         sender rank (-1 when a shard sends)
 * 20  int   shard        shard that owns the chunk
 * 24  int   chunk        chunk index within the shard
 * 28  int   chunkCount   chunks in the shard
 * 32  int   samples      samples behind the values (worker: its batch; shard: the sum)
 * 36  float loss         mean batch loss (worker) or sample-weighted mean loss (shard)
 * 40  int   offset       index of the first value in the flat parameter vector
 * 44  int   length       number of float values that follow (0 for an empty batch)
 * 48  float[length]      values
 * </pre>
 *
 * Values are copied with memcpy from and to off-heap vectors, so the wire order is the
 * machine's native order; {@link #requireLittleEndian()} guards that assumption.
 */
public final class GradientFrame {
    public static final int JOB_ID_OFFSET = 0;
    public static final int STEP_OFFSET = 8;
    public static final int RANK_OFFSET = 16;
    public static final int SHARD_OFFSET = 20;
    public static final int CHUNK_OFFSET = 24;
    public static final int CHUNK_COUNT_OFFSET = 28;
    public static final int SAMPLES_OFFSET = 32;
    public static final int LOSS_OFFSET = 36;
    public static final int VALUE_OFFSET_OFFSET = 40;
    public static final int LENGTH_OFFSET = 44;
    public static final int HEADER_LENGTH = 48;
    public static final int SERVER_RANK = -1;

    private static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;

    private MutableDirectBuffer mutable;
    private DirectBuffer buffer;
    private int base;
    private int frameLength;

    public static void requireLittleEndian() {
        if (ByteOrder.nativeOrder() != ORDER) {
            throw new IllegalStateException("Lockstep's wire format needs a little-endian machine");
        }
    }

    public static int frameLength(int values) {
        return HEADER_LENGTH + values * Float.BYTES;
    }

    /** Wraps a received frame for reading. */
    public GradientFrame wrap(DirectBuffer buffer, int offset, int length) {
        this.buffer = buffer;
        this.mutable = null;
        this.base = offset;
        this.frameLength = length;
        return this;
    }

    /** Wraps a claimed region for writing. */
    public GradientFrame wrapForWrite(MutableDirectBuffer buffer, int offset, int length) {
        this.buffer = buffer;
        this.mutable = buffer;
        this.base = offset;
        this.frameLength = length;
        return this;
    }

    /** True when the frame holds a full header and exactly the values its header announces. */
    public boolean isWellFormed() {
        if (frameLength < HEADER_LENGTH) {
            return false;
        }
        int n = length();
        return n >= 0 && (long) HEADER_LENGTH + (long) n * Float.BYTES == frameLength;
    }

    public GradientFrame header(long jobId, long step, int rank, int shard, int chunk, int chunkCount,
                                int samples, float loss, int valueOffset, int length) {
        mutable.putLong(base + JOB_ID_OFFSET, jobId, ORDER);
        mutable.putLong(base + STEP_OFFSET, step, ORDER);
        mutable.putInt(base + RANK_OFFSET, rank, ORDER);
        mutable.putInt(base + SHARD_OFFSET, shard, ORDER);
        mutable.putInt(base + CHUNK_OFFSET, chunk, ORDER);
        mutable.putInt(base + CHUNK_COUNT_OFFSET, chunkCount, ORDER);
        mutable.putInt(base + SAMPLES_OFFSET, samples, ORDER);
        mutable.putFloat(base + LOSS_OFFSET, loss, ORDER);
        mutable.putInt(base + VALUE_OFFSET_OFFSET, valueOffset, ORDER);
        mutable.putInt(base + LENGTH_OFFSET, length, ORDER);
        return this;
    }

    public long jobId() { return buffer.getLong(base + JOB_ID_OFFSET, ORDER); }
    public long step() { return buffer.getLong(base + STEP_OFFSET, ORDER); }
    public int rank() { return buffer.getInt(base + RANK_OFFSET, ORDER); }
    public int shard() { return buffer.getInt(base + SHARD_OFFSET, ORDER); }
    public int chunk() { return buffer.getInt(base + CHUNK_OFFSET, ORDER); }
    public int chunkCount() { return buffer.getInt(base + CHUNK_COUNT_OFFSET, ORDER); }
    public int samples() { return buffer.getInt(base + SAMPLES_OFFSET, ORDER); }
    public float loss() { return buffer.getFloat(base + LOSS_OFFSET, ORDER); }
    public int valueOffset() { return buffer.getInt(base + VALUE_OFFSET_OFFSET, ORDER); }
    public int length() { return buffer.getInt(base + LENGTH_OFFSET, ORDER); }

    /** Absolute index of the first value in the wrapped buffer. */
    public int valuesIndex() { return base + HEADER_LENGTH; }

    public DirectBuffer buffer() { return buffer; }
}
