package io.lockstep.ps.wire;

/**
 * Flyweight over a JOIN frame, wire version 1: a worker tells a shard (or the gather endpoint), on
 * that shard's own gradient channel, the endpoint its JVM receives that shard's averages on, so the
 * server adds it as a destination of its averages publication. Sent once per worker and target, before
 * the first step; authenticated like every frame, so only members of the job become destinations.
 *
 * <pre>
 *  0  byte  version      1
 *  1  byte  flags        0
 *  2  short type         JOIN
 *  4  int   reserved     0
 *  8  long  jobId        frames of another job are dropped
 * 16  int   rank         the worker
 * 20  int   target       the shard, or {@link #GATHER_TARGET} for the gather endpoint
 * 24  int   length       bytes of the endpoint that follow
 * 28  int   reserved     0
 * 32  byte[length]       the receive endpoint, "host:port" in ASCII, AES-GCM encrypted
 * 32 + length  byte[16]  tag
 * </pre>
 *
 * The key is (job, JOIN, rank) and the nonce (target, 0): one JOIN per worker and target, and a
 * repeat of it names the same endpoint again.
 */
public final class JoinFrame extends WireFrame<JoinFrame> {
    public static final int JOB_ID_OFFSET = FrameHeader.JOB_ID_OFFSET;
    public static final int RANK_OFFSET = 16;
    public static final int TARGET_OFFSET = 20;
    public static final int LENGTH_OFFSET = 24;
    public static final int HEADER_LENGTH = 32;
    public static final int GATHER_TARGET = -1;
    /** Longest endpoint: a host name (at most 253 characters) with a port. */
    public static final int MAX_ENDPOINT_LENGTH = 262;


    public static int frameLength(int endpointBytes) {
        return HEADER_LENGTH + endpointBytes + FrameHeader.TAG_LENGTH;
    }

    /** True when the frame is of this version and holds a full header, an endpoint of allowed length and the tag. */
    public boolean isWellFormed() {
        if (!holdsHeaderOfThisVersion(HEADER_LENGTH)) {
            return false;
        }
        int n = length();
        return n > 0 && n <= MAX_ENDPOINT_LENGTH && HEADER_LENGTH + n + FrameHeader.TAG_LENGTH == frameLength;
    }

    public JoinFrame header(long jobId, int rank, int target, int length) {
        FrameHeader.write(mutable, base, FrameHeader.TYPE_JOIN, jobId);
        mutable.putInt(base + RANK_OFFSET, rank, ORDER);
        mutable.putInt(base + TARGET_OFFSET, target, ORDER);
        mutable.putInt(base + LENGTH_OFFSET, length, ORDER);
        mutable.putInt(base + LENGTH_OFFSET + 4, 0, ORDER);
        return this;
    }

    public int rank() { return buffer.getInt(base + RANK_OFFSET, ORDER); }
    public int target() { return buffer.getInt(base + TARGET_OFFSET, ORDER); }
    public int length() { return buffer.getInt(base + LENGTH_OFFSET, ORDER); }
}
