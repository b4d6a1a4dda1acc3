package io.lockstep.ps.wire;

import java.nio.ByteOrder;

/**
 * Flyweight over one gradient frame, wire version 1: the {@link FrameHeader}, the chunk's fields,
 * {@code length} values (encrypted) and the AES-GCM tag; 64 + w·length + 16 bytes, little-endian, where w is
 * the width of the frame's {@link WireFormat}: 4 for float32, 2 for bf16 and fp16.
 * The same layout travels both ways: workers send their batch's mean gradient for a chunk
 * ({@link FrameHeader#TYPE_GRADIENT}), shards answer with the sample-weighted average
 * ({@link FrameHeader#TYPE_AVERAGE}).
 *
 * <pre>
 *  0  byte  version      1
 *  1  byte  flags        0
 *  2  short type         GRADIENT (worker to shard) or AVERAGE (shard to workers)
 *  4  int   reserved     0
 *  8  long  jobId        frames of another job are dropped
 * 16  long  step         global step number
 * 24  int   rank         sender rank (-1 when a shard sends)
 * 28  int   shard        shard that owns the chunk
 * 32  int   chunk        chunk index within the shard
 * 36  int   chunkCount   chunks in the shard
 * 40  int   samples      samples behind the values (worker: its batch; shard: the sum)
 * 44  float loss         mean batch loss (worker) or sample-weighted mean loss (shard)
 * 48  int   offset       index of the first value in the flat parameter vector
 * 52  int   length       number of float values that follow (0 for an empty batch)
 * 56  float norm         PARAMS: the global L2 norm of the step's averaged gradient, before clipping; else 0
 * 60  int   encoding     {@link WireFormat#code()}: 0 float32, 1 bf16, 2 fp16 (GRADIENT and AVERAGE frames of a
 *                        16-bit job); PARAMS and STATE frames are always float32
 * 64  value[length]      values, AES-GCM encrypted; bytes 0-63 are authenticated as they are
 * 64 + w·length  byte[16] tag
 * </pre>
 *
 * With the optimizer on the server ({@code optimizer.step_placement: server}) shards answer with the updated
 * parameters of the chunk instead ({@link FrameHeader#TYPE_PARAMS}; {@link FrameHeader#FLAG_SKIPPED} and no
 * values when the step's gradient was not finite and nothing was applied), and send their optimizer state
 * on request ({@link FrameHeader#TYPE_STATE_REQUEST}, {@link FrameHeader#TYPE_STATE}: offsets then index the
 * slot-major state vector, slot k of parameter i at k·paramCount + i).
 *
 * The key is the sender's ({@link JobSecret#key}: job, type, rank) and the nonce (step, offset).
 * Values are encrypted from and decrypted to off-heap vectors, so the wire order of the values is the
 * machine's native order; {@link #requireLittleEndian()} guards that assumption.
 */
public final class GradientFrame extends WireFrame<GradientFrame> {
    public static final int JOB_ID_OFFSET = FrameHeader.JOB_ID_OFFSET;
    public static final int STEP_OFFSET = 16;
    public static final int RANK_OFFSET = 24;
    public static final int SHARD_OFFSET = 28;
    public static final int CHUNK_OFFSET = 32;
    public static final int CHUNK_COUNT_OFFSET = 36;
    public static final int SAMPLES_OFFSET = 40;
    public static final int LOSS_OFFSET = 44;
    public static final int VALUE_OFFSET_OFFSET = 48;
    public static final int LENGTH_OFFSET = 52;
    public static final int NORM_OFFSET = 56;
    public static final int ENCODING_OFFSET = 60;
    public static final int HEADER_LENGTH = 64;
    public static final int SERVER_RANK = -1;

    /** The sender index under which shard {@code shard} seals its resend asks (apart from every rank's). */
    public static int askSender(int shard) {
        return SERVER_RANK - 1 - shard;
    }

    private static final int[] HIDDEN = {SAMPLES_OFFSET, 8, NORM_OFFSET, 4};
    private static final int[] NONE = {};

    /**
     * The header fields a frame of {@code type} seals with its payload instead of leaving them in the clear, as
     * (offset, length) pairs: a gradient's, an average's, a parameters frame's and a step report's sample count and
     * loss (8 bytes at {@link #SAMPLES_OFFSET}) and norm (4 at {@link #NORM_OFFSET}). A sniffer need not read them; a
     * receiver reads them from {@link FrameCipher#openedHeader()} once the frame is opened. Their ciphertext sits
     * where they were, so frames keep their sizes, and the rest of the header stays authenticated data.
     */
    static int[] hiddenFields(int type) {
        return type == FrameHeader.TYPE_GRADIENT || type == FrameHeader.TYPE_AVERAGE || type == FrameHeader.TYPE_PARAMS
            || type == FrameHeader.TYPE_STEP ? HIDDEN : NONE;
    }

    public static void requireLittleEndian() {
        if (ByteOrder.nativeOrder() != ORDER) {
            throw new IllegalStateException("Lockstep's wire format needs a little-endian machine");
        }
    }

    /** Bytes of a frame carrying {@code values} floats: header, values, tag. */
    public static int frameLength(int values) {
        return frameLength(values, WireFormat.FP32);
    }

    /** Bytes of a frame carrying {@code values} values in {@code format}: header, values, tag. */
    public static int frameLength(int values, WireFormat format) {
        return HEADER_LENGTH + values * format.bytesPerValue() + FrameHeader.TAG_LENGTH;
    }

    /**
     * True when the frame is of this version and of a known {@link WireFormat}, holds a full header and
     * exactly the values its header announces, at that format's width, and the tag. Whether the format is
     * the one the receiver expects is the receiver's check ({@link #encoding()}).
     */
    public boolean isWellFormed() {
        if (!holdsHeaderOfThisVersion(HEADER_LENGTH)) {
            return false;
        }
        WireFormat format = WireFormat.ofCode(encoding());
        int n = length();
        int resend = resend();
        return format != null && n >= 0 && resend >= 0 && resend <= FrameHeader.MAX_RESENDS
            && (long) HEADER_LENGTH + (long) n * format.bytesPerValue() + FrameHeader.TAG_LENGTH == frameLength;
    }

    public GradientFrame header(short type, long jobId, long step, int rank, int shard, int chunk, int chunkCount,
                                int samples, float loss, int valueOffset, int length) {
        FrameHeader.write(mutable, base, type, jobId);
        mutable.putLong(base + STEP_OFFSET, step, ORDER);
        mutable.putInt(base + RANK_OFFSET, rank, ORDER);
        mutable.putInt(base + SHARD_OFFSET, shard, ORDER);
        mutable.putInt(base + CHUNK_OFFSET, chunk, ORDER);
        mutable.putInt(base + CHUNK_COUNT_OFFSET, chunkCount, ORDER);
        mutable.putInt(base + SAMPLES_OFFSET, samples, ORDER);
        mutable.putFloat(base + LOSS_OFFSET, loss, ORDER);
        mutable.putInt(base + VALUE_OFFSET_OFFSET, valueOffset, ORDER);
        mutable.putInt(base + LENGTH_OFFSET, length, ORDER);
        mutable.putFloat(base + NORM_OFFSET, 0f, ORDER);
        mutable.putInt(base + ENCODING_OFFSET, WireFormat.FP32.code(), ORDER);
        return this;
    }

    /** Sets the format of the values (float32 unless set), after {@link #header}. */
    public GradientFrame encoding(WireFormat format) {
        mutable.putInt(base + ENCODING_OFFSET, format.code(), ORDER);
        return this;
    }

    /** Sets the norm field (PARAMS frames), after {@link #header}. */
    public GradientFrame norm(float norm) {
        mutable.putFloat(base + NORM_OFFSET, norm, ORDER);
        return this;
    }

    /** Sets the resend field (0 on a first send; {@link FrameHeader#nonceStep}), after {@link #header}. */
    public GradientFrame resend(int resend) {
        mutable.putInt(base + FrameHeader.RESERVED_OFFSET, resend, ORDER);
        return this;
    }

    /** The resend field: 0 on a first send, at most {@link FrameHeader#MAX_RESENDS} in a well-formed frame. */
    public int resend() { return buffer.getInt(base + FrameHeader.RESERVED_OFFSET, ORDER); }

    /** The step part of this frame's nonce ({@link FrameHeader#nonceStep}). */
    public long nonceStep() { return FrameHeader.nonceStep(step(), resend()); }

    /** Sets the header's flags byte, after {@link #header}. */
    public GradientFrame flags(byte flags) {
        mutable.putByte(base + FrameHeader.FLAGS_OFFSET, flags);
        return this;
    }

    public long step() { return buffer.getLong(base + STEP_OFFSET, ORDER); }
    public int rank() { return buffer.getInt(base + RANK_OFFSET, ORDER); }
    public int shard() { return buffer.getInt(base + SHARD_OFFSET, ORDER); }
    public int chunk() { return buffer.getInt(base + CHUNK_OFFSET, ORDER); }
    public int chunkCount() { return buffer.getInt(base + CHUNK_COUNT_OFFSET, ORDER); }
    public int samples() { return buffer.getInt(base + SAMPLES_OFFSET, ORDER); }
    public float loss() { return buffer.getFloat(base + LOSS_OFFSET, ORDER); }
    public int valueOffset() { return buffer.getInt(base + VALUE_OFFSET_OFFSET, ORDER); }
    public int length() { return buffer.getInt(base + LENGTH_OFFSET, ORDER); }
    public float norm() { return buffer.getFloat(base + NORM_OFFSET, ORDER); }
    public byte flags() { return buffer.getByte(base + FrameHeader.FLAGS_OFFSET); }
    /** The encoding field: a {@link WireFormat#code()} in a well-formed frame. */
    public int encoding() { return buffer.getInt(base + ENCODING_OFFSET, ORDER); }

    /** Absolute index of the first (encrypted) value in the wrapped buffer. */
    public int valuesIndex() { return base + HEADER_LENGTH; }

}
