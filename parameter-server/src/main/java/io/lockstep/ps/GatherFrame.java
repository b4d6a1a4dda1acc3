package io.lockstep.ps;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import java.nio.ByteOrder;

/**
 * Flyweight over one all-gather frame: a fixed 32-byte little-endian header followed by
 * {@code length} bytes of one rank's blob, starting at {@code offset} within it. A blob travels
 * as one or more such frames, each small enough for one Aeron fragment; the same layout goes both
 * ways (a worker uploads its own blob, the server forwards every rank's blob to every worker).
 *
 * <pre>
 *  0  long  jobId        frames of another job are dropped
 *  8  long  round        caller-chosen, strictly increasing within a job
 * 16  int   rank         whose blob this is (the sender upstream, the blob's owner downstream)
 * 20  int   blobLength   total bytes of that rank's blob
 * 24  int   offset       index of this frame's first byte within the blob
 * 28  int   length       number of bytes that follow
 * 32  byte[length]       blob bytes [offset, offset + length)
 * </pre>
 *
 * Blobs are chunked here rather than by Aeron's own fragmentation because Aeron caps a message at
 * termLength / 8 (512 KiB with a 4 MiB term), and because a back-pressured chunk can be retried
 * on its own; the header's blob length lets the receiver allocate the blob once and copy every
 * chunk straight into it.
 */
public final class GatherFrame {
    public static final int JOB_ID_OFFSET = 0;
    public static final int ROUND_OFFSET = 8;
    public static final int RANK_OFFSET = 16;
    public static final int BLOB_LENGTH_OFFSET = 20;
    public static final int OFFSET_OFFSET = 24;
    public static final int LENGTH_OFFSET = 28;
    public static final int HEADER_LENGTH = 32;
    /**
     * Largest blob one rank may gather. The gather is for small data (metrics, decisions); the cap
     * keeps a corrupt header from making the server allocate gigabytes.
     */
    public static final int MAX_BLOB_LENGTH = 64 * 1024 * 1024;

    private static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;

    private MutableDirectBuffer mutable;
    private DirectBuffer buffer;
    private int base;
    private int frameLength;

    public static int frameLength(int bytes) {
        return HEADER_LENGTH + bytes;
    }

    /** Wraps a received frame for reading. */
    public GatherFrame wrap(DirectBuffer buffer, int offset, int length) {
        this.buffer = buffer;
        this.mutable = null;
        this.base = offset;
        this.frameLength = length;
        return this;
    }

    /** Wraps a claimed region for writing. */
    public GatherFrame wrapForWrite(MutableDirectBuffer buffer, int offset, int length) {
        this.buffer = buffer;
        this.mutable = buffer;
        this.base = offset;
        this.frameLength = length;
        return this;
    }

    /**
     * True when the frame holds a full header, exactly the bytes it announces, and those bytes lie
     * within a blob of allowed size.
     */
    public boolean isWellFormed() {
        if (frameLength < HEADER_LENGTH) {
            return false;
        }
        int n = length();
        int blob = blobLength();
        int at = offset();
        return n >= 0 && HEADER_LENGTH + (long) n == frameLength
            && blob >= 0 && blob <= MAX_BLOB_LENGTH && at >= 0 && (long) at + n <= blob;
    }

    public GatherFrame header(long jobId, long round, int rank, int blobLength, int offset, int length) {
        mutable.putLong(base + JOB_ID_OFFSET, jobId, ORDER);
        mutable.putLong(base + ROUND_OFFSET, round, ORDER);
        mutable.putInt(base + RANK_OFFSET, rank, ORDER);
        mutable.putInt(base + BLOB_LENGTH_OFFSET, blobLength, ORDER);
        mutable.putInt(base + OFFSET_OFFSET, offset, ORDER);
        mutable.putInt(base + LENGTH_OFFSET, length, ORDER);
        return this;
    }

    public long jobId() { return buffer.getLong(base + JOB_ID_OFFSET, ORDER); }
    public long round() { return buffer.getLong(base + ROUND_OFFSET, ORDER); }
    public int rank() { return buffer.getInt(base + RANK_OFFSET, ORDER); }
    public int blobLength() { return buffer.getInt(base + BLOB_LENGTH_OFFSET, ORDER); }
    public int offset() { return buffer.getInt(base + OFFSET_OFFSET, ORDER); }
    public int length() { return buffer.getInt(base + LENGTH_OFFSET, ORDER); }

    /** Absolute index of the first blob byte in the wrapped buffer. */
    public int bytesIndex() { return base + HEADER_LENGTH; }

    public DirectBuffer buffer() { return buffer; }
}
