package io.lockstep.ps.wire;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import java.nio.ByteOrder;

/**
 * The first 16 bytes of every Lockstep wire frame, version 1. As in Aeron's {@code HeaderFlyweight},
 * a version and a type come first, so a decoder refuses what it does not know before it reads on.
 *
 * <pre>
 *  0  byte   version    {@link #VERSION}
 *  1  byte   flags      {@link #FLAG_SKIPPED} on PARAMS frames of a skipped step, else 0
 *  2  short  type       {@link #TYPE_GRADIENT} ... {@link #TYPE_JOIN}
 *  4  int    resend     0, or how many times the sender has sent this frame's chunk again ({@link #nonceStep})
 *  8  long   jobId      frames of another job are dropped
 * 16  ...               the type's own fields, its payload (encrypted) and a {@link #TAG_LENGTH}-byte tag
 * </pre>
 *
 * Every frame is authenticated: the payload is encrypted with AES-GCM under a key of the job, the
 * type and the sender ({@link JobSecret}), with the whole header as additional authenticated data,
 * and the tag follows the payload. See {@link FrameCipher}.
 */
public final class FrameHeader {
    public static final int VERSION_OFFSET = 0;
    public static final int FLAGS_OFFSET = 1;
    public static final int TYPE_OFFSET = 2;
    public static final int RESERVED_OFFSET = 4;
    public static final int JOB_ID_OFFSET = 8;
    /** Bytes of the common header; the type's fields follow. */
    public static final int LENGTH = 16;
    /** AES-GCM tag after the payload. */
    public static final int TAG_LENGTH = 16;

    public static final byte VERSION = 1;
    /** A worker's mean gradient for one chunk, to the shard that owns it ({@link GradientFrame}). */
    public static final short TYPE_GRADIENT = 1;
    /** A shard's sample-weighted average of one chunk, to every worker ({@link GradientFrame}). */
    public static final short TYPE_AVERAGE = 2;
    /** A piece of a worker's all-gather blob, to the gather endpoint ({@link GatherFrame}). */
    public static final short TYPE_GATHER = 3;
    /** A piece of one rank's blob, forwarded to every worker ({@link GatherFrame}). */
    public static final short TYPE_GATHERED = 4;
    /** A worker's receive endpoint, so the server adds it as a destination ({@link JoinFrame}). */
    public static final short TYPE_JOIN = 5;
    /** A shard's updated parameters of one chunk, to every worker, when it applies the optimizer ({@link GradientFrame}). */
    public static final short TYPE_PARAMS = 6;
    /** A worker asks every shard for its optimizer state after a step, for a checkpoint ({@link GradientFrame}, no values). */
    public static final short TYPE_STATE_REQUEST = 7;
    /** A piece of a shard's optimizer state, to every worker ({@link GradientFrame}). */
    public static final short TYPE_STATE = 8;
    /**
     * A shard's sum of squares of its averaged slice, to the servers of the other shards (shards on the
     * executors; {@link GradientFrame}, the sum as one double in the payload).
     */
    public static final short TYPE_NORM = 9;
    /** Shard 0's report of a finished step, to the driver's all-gather endpoint ({@link GradientFrame}, header only). */
    public static final short TYPE_STEP = 10;
    /**
     * A receiver asks the sender to send chunks of a step again ({@link GradientFrame}, no values; chunk = the
     * first, chunk count = how many, value offset = the request's sequence number within the step): a worker asks a
     * shard for averages or parameters, a shard asks a worker (named by rank) for gradients. Sent when a frame the
     * receiver expected failed authentication, was malformed or never came.
     */
    public static final short TYPE_RESEND = 11;
    /**
     * A worker asks the gather endpoint to forward one rank's blob of a round again, from an offset
     * ({@link GradientFrame}, no values: step = the round, rank = the asker, shard = the blob's owner, chunk = the
     * offset, value offset = the ask's sequence number within the round).
     */
    public static final short TYPE_GATHER_ASK = 12;
    /** The most times one chunk of one step is sent again (the resend field's range in the nonce). */
    public static final int MAX_RESENDS = 0xFFFF;
    /** PARAMS: the step's averaged gradient was not finite; nothing was applied and no values follow. */
    public static final byte FLAG_SKIPPED = 1;

    public static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;

    private FrameHeader() {
    }

    public static void write(MutableDirectBuffer buffer, int base, short type, long jobId) {
        buffer.putByte(base + VERSION_OFFSET, VERSION);
        buffer.putByte(base + FLAGS_OFFSET, (byte) 0);
        buffer.putShort(base + TYPE_OFFSET, type, ORDER);
        buffer.putInt(base + RESERVED_OFFSET, 0, ORDER);
        buffer.putLong(base + JOB_ID_OFFSET, jobId, ORDER);
    }

    /** The frame's type, or -1 when it is shorter than a header or of another version. */
    public static int type(DirectBuffer buffer, int base, int length) {
        if (length < LENGTH || buffer.getByte(base + VERSION_OFFSET) != VERSION) {
            return -1;
        }
        return buffer.getShort(base + TYPE_OFFSET, ORDER);
    }

    /**
     * The step part of the nonce of a frame sent for the {@code resend}-th time: each resend of a chunk is sealed
     * under a nonce of its own (steps stay below 2^48), so a resent frame never reuses a nonce even where its
     * header differs from the first one's.
     */
    public static long nonceStep(long step, int resend) {
        return step ^ ((long) resend << 48);
    }

    /** The resend field ({@link #nonceStep}). */
    public static int resend(DirectBuffer buffer, int base) {
        return buffer.getInt(base + RESERVED_OFFSET, ORDER);
    }

    public static long jobId(DirectBuffer buffer, int base) {
        return buffer.getLong(base + JOB_ID_OFFSET, ORDER);
    }
}
