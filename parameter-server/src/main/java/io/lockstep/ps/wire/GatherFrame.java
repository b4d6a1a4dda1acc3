package io.lockstep.ps.wire;

/**
 * Flyweight over one all-gather frame, wire version 1: the {@link FrameHeader}, the piece's fields,
 * {@code length} bytes of one rank's blob (encrypted), starting at {@code offset} within it, and the
 * AES-GCM tag; 40 + length + 16 bytes, little-endian. A blob travels as one or more such frames, each
 * small enough for one Aeron fragment; the same layout goes both ways (a worker uploads its own blob,
 * {@link FrameHeader#TYPE_GATHER}; the server forwards every rank's blob to every worker,
 * {@link FrameHeader#TYPE_GATHERED}).
 *
 * <pre>
 *  0  byte  version      1
 *  1  byte  flags        0
 *  2  short type         GATHER (worker to server) or GATHERED (server to workers)
 *  4  int   reserved     0
 *  8  long  jobId        frames of another job are dropped
 * 16  long  round        caller-chosen, strictly increasing within a job
 * 24  int   rank         whose blob this is (the sender upstream, the blob's owner downstream)
 * 28  int   blobLength   total bytes of that rank's blob
 * 32  int   offset       index of this frame's first byte within the blob
 * 36  int   length       number of bytes that follow
 * 40  byte[length]       blob bytes [offset, offset + length), AES-GCM encrypted
 * 40 + length  byte[16]  tag
 * </pre>
 *
 * The key is (job, type, rank: the uploader upstream, the blob's owner downstream), the nonce (round,
 * offset).
 *
 * Blobs are chunked here rather than by Aeron's own fragmentation because Aeron caps a message at
 * termLength / 8 (512 KiB with a 4 MiB term), and because a back-pressured chunk can be retried
 * on its own; the header's blob length lets the receiver allocate the blob once and copy every
 * chunk straight into it.
 */
public final class GatherFrame extends WireFrame<GatherFrame> {
    public static final int JOB_ID_OFFSET = FrameHeader.JOB_ID_OFFSET;
    public static final int ROUND_OFFSET = 16;
    public static final int RANK_OFFSET = 24;
    public static final int BLOB_LENGTH_OFFSET = 28;
    public static final int OFFSET_OFFSET = 32;
    public static final int LENGTH_OFFSET = 36;
    public static final int HEADER_LENGTH = 40;
    /**
     * Largest blob one rank may gather. The gather is for small data (metrics, decisions); the cap
     * keeps a corrupt header from making the server allocate gigabytes.
     */
    public static final int MAX_BLOB_LENGTH = 64 * 1024 * 1024;


    /** Bytes of a frame carrying {@code bytes} blob bytes: header, bytes, tag. */
    public static int frameLength(int bytes) {
        return HEADER_LENGTH + bytes + FrameHeader.TAG_LENGTH;
    }

    /**
     * True when the frame is of this version, holds a full header, exactly the bytes it announces and
     * the tag, and those bytes lie within a blob of allowed size.
     */
    public boolean isWellFormed() {
        if (!holdsHeaderOfThisVersion(HEADER_LENGTH)) {
            return false;
        }
        int resend = buffer.getInt(base + FrameHeader.RESERVED_OFFSET, ORDER);
        if (resend < 0 || resend > FrameHeader.MAX_RESENDS) {
            return false;
        }
        int n = length();
        int blob = blobLength();
        int at = offset();
        return n >= 0 && HEADER_LENGTH + (long) n + FrameHeader.TAG_LENGTH == frameLength
            && blob >= 0 && blob <= MAX_BLOB_LENGTH && at >= 0 && (long) at + n <= blob;
    }

    public GatherFrame header(short type, long jobId, long round, int rank, int blobLength, int offset, int length) {
        FrameHeader.write(mutable, base, type, jobId);
        mutable.putLong(base + ROUND_OFFSET, round, ORDER);
        mutable.putInt(base + RANK_OFFSET, rank, ORDER);
        mutable.putInt(base + BLOB_LENGTH_OFFSET, blobLength, ORDER);
        mutable.putInt(base + OFFSET_OFFSET, offset, ORDER);
        mutable.putInt(base + LENGTH_OFFSET, length, ORDER);
        return this;
    }

    /** Sets the resend field (0 on a first send; {@link FrameHeader#nonceStep}), after {@link #header}. */
    public GatherFrame resend(int resend) {
        mutable.putInt(base + FrameHeader.RESERVED_OFFSET, resend, ORDER);
        return this;
    }

    /** The step part of this frame's nonce: the round with the resend field folded in ({@link FrameHeader#nonceStep}). */
    public long nonceRound() {
        return FrameHeader.nonceStep(round(), buffer.getInt(base + FrameHeader.RESERVED_OFFSET, ORDER));
    }

    public long round() { return buffer.getLong(base + ROUND_OFFSET, ORDER); }
    public int rank() { return buffer.getInt(base + RANK_OFFSET, ORDER); }
    public int blobLength() { return buffer.getInt(base + BLOB_LENGTH_OFFSET, ORDER); }
    public int offset() { return buffer.getInt(base + OFFSET_OFFSET, ORDER); }
    public int length() { return buffer.getInt(base + LENGTH_OFFSET, ORDER); }

    /** Absolute index of the first (encrypted) blob byte in the wrapped buffer. */
    public int bytesIndex() { return base + HEADER_LENGTH; }

}
