package io.lockstep.ps.server;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GatherFrame;
import io.lockstep.ps.wire.JobSecret;
import org.agrona.DirectBuffer;

import java.util.Arrays;

/**
 * The server's side of an all-gather, free of any transport: validates each {@link GatherFrame},
 * assembles every rank's blob of the current round and lists the blobs as they complete, so the
 * {@link GatherAgent} can forward each one while the others are still arriving.
 *
 * <p>Rounds: the first valid frame of a round newer than the last completed one opens it; frames
 * of older rounds are stale, frames of the completed round duplicates. A frame of a round newer
 * than the open one is malformed: every rank gathers the same rounds in the same order and none
 * can start round r+1 before round r is complete, so it means the ranks disagree on the round
 * number; the open round then times out naming the rank that never sent it.
 *
 * <p>A rank's frames arrive in order (one Aeron publication each), so each must continue its blob
 * exactly where the previous one ended: an earlier offset is a repeat, a later one a gap.
 *
 * <p>As for gradients ({@link ShardAggregator}), every header check comes first and changes nothing;
 * a frame is then opened with its rank's key into a scratch array, and only a frame whose tag holds
 * opens a round, makes a blob be allocated (a forged blob length cannot make the server allocate) or
 * is copied into one.
 *
 * <p>Single-threaded (owned by one agent). Allocates once per round and once per blob, nothing per
 * frame but the JDK's GCM engine; the blobs of a completed round are handed on and never reused.
 */
public final class GatherAggregator {

    /** Outcome of {@link #onFrame}: BLOB_READY completed one rank's blob, COMPLETED the round's last. */
    public enum Outcome {
        ACCEPTED, BLOB_READY, COMPLETED, FOREIGN_JOB, STALE_ROUND, MALFORMED, DUPLICATE, UNAUTHENTICATED
    }

    private final long jobId;
    private final int workers;
    private final DropCounters drops;
    private final GatherFrame frame = new GatherFrame();
    private final int[] receivedBytes;
    private final int[] ready;
    private final FrameCipher[] fromRank;
    private final int maxPiece; // bytes of blob one frame of the job carries at most

    private boolean open; // a round is being collected (or sent)
    private long round;
    private boolean anyCompleted;
    private long lastCompleted;
    private byte[][] blobs;
    private int readyCount;

    /** @param mtu the exchange's frame size: no frame of the job carries more than its chunk of bytes */
    public GatherAggregator(long jobId, int workers, int mtu, JobSecret secret, DropCounters drops) {
        if (workers < 1) {
            throw new IllegalArgumentException("workers must be >= 1, got " + workers);
        }
        this.jobId = jobId;
        this.workers = workers;
        this.drops = drops;
        this.receivedBytes = new int[workers];
        this.ready = new int[workers];
        this.fromRank = FrameCipher.perRank(secret, jobId, FrameHeader.TYPE_GATHER, workers, new FrameCipher.Scratch());
        this.maxPiece = ExchangeSpec.gatherChunkBytesFor(mtu);
    }

    public Outcome onFrame(DirectBuffer buffer, int offset, int length) {
        frame.wrap(buffer, offset, length);
        if (length < GatherFrame.HEADER_LENGTH + FrameHeader.TAG_LENGTH
            || FrameHeader.type(buffer, offset, length) != FrameHeader.TYPE_GATHER) {
            return drop(Outcome.MALFORMED); // read no field a frame this short does not hold
        }
        if (frame.jobId() != jobId) {
            return drop(Outcome.FOREIGN_JOB);
        }
        long r = frame.round();
        if (open ? r < round : anyCompleted && r <= lastCompleted) {
            return drop(!open && r == lastCompleted ? Outcome.DUPLICATE : Outcome.STALE_ROUND);
        }
        int rank = frame.rank();
        if ((open && r != round) || !frame.isWellFormed() || rank < 0 || rank >= workers) {
            return drop(Outcome.MALFORMED);
        }
        byte[] blob = open ? blobs[rank] : null;
        int at = blob == null ? 0 : receivedBytes[rank];
        if (blob != null && at == blob.length) {
            return drop(Outcome.DUPLICATE); // this rank's blob is complete (an empty one included)
        }
        if (frame.offset() < at) {
            return drop(Outcome.DUPLICATE);
        }
        int n = frame.length();
        if (frame.offset() > at || (blob != null && frame.blobLength() != blob.length) || n > maxPiece) {
            return drop(Outcome.MALFORMED);
        }
        // nothing above changed any state: only a frame this rank sealed opens a round or a blob
        DirectBuffer plain = fromRank[rank].open(buffer, offset, GatherFrame.HEADER_LENGTH, n, frame.nonceRound(), at);
        if (plain == null) {
            return drop(Outcome.UNAUTHENTICATED);
        }
        if (!open) {
            openRound(r);
        }
        if (blob == null) {
            blob = blobs[rank] = new byte[frame.blobLength()];
        }
        plain.getBytes(0, blob, at, n);
        receivedBytes[rank] = at + n;
        if (at + n < blob.length) {
            return Outcome.ACCEPTED;
        }
        ready[readyCount++] = rank;
        return isComplete() ? Outcome.COMPLETED : Outcome.BLOB_READY;
    }

    private void openRound(long r) {
        open = true;
        round = r;
        blobs = new byte[workers][];
        Arrays.fill(receivedBytes, 0);
        readyCount = 0;
    }

    private Outcome drop(Outcome outcome) {
        drops.record(outcome);
        return outcome;
    }

    /** Closes the round once every blob has been sent; the next frame of a newer round opens the next. */
    public void advance() {
        if (!isComplete()) {
            throw new IllegalStateException("gather round " + round + " is not complete");
        }
        anyCompleted = true;
        lastCompleted = round;
        open = false;
        blobs = null;
        readyCount = 0;
    }

    /** Bytes of {@code rank}'s blob of the open round in so far (pieces come in order). */
    int receivedFrom(int rank) {
        return blobs == null || blobs[rank] == null ? 0 : receivedBytes[rank];
    }

    /** True once {@code rank}'s blob of the open round is all in. */
    boolean hasAll(int rank) {
        return blobs != null && blobs[rank] != null && receivedBytes[rank] == blobs[rank].length;
    }

    /** True once every rank's blob of the open round is in. */
    public boolean isComplete() { return open && readyCount == workers; }

    /** True while a round is being collected or sent. */
    public boolean isOpen() { return open; }

    /** Blobs completed so far this round; {@link #readyRank(int)} lists their ranks in the order they completed. */
    public int readyCount() { return readyCount; }

    public int readyRank(int i) { return ready[i]; }

    /** The open round's blobs by rank (null where not started); the array is never reused. */
    public byte[][] blobs() { return blobs; }

    public long round() { return round; }

    int workers() { return workers; }

    /**
     * "round R waits for rank(s) a,b" while a round is open and incomplete, else empty; for timeout
     * messages. From the agent's thread ({@link ParameterServer#waitingFor()} reads what the agent publishes
     * to its {@link WaitingBoard} instead).
     */
    public String waitingFor() {
        if (!open || blobs == null || readyCount == workers) {
            return "";
        }
        return "round " + round + " waits for rank(s) " + missingRanks();
    }

    /** Ranks whose blob of the open round is not complete, e.g. "1,2"; empty when none is open. */
    public String missingRanks() {
        byte[][] b = blobs;
        if (!open || b == null) {
            return "";
        }
        StringBuilder sb = new StringBuilder();
        for (int r = 0; r < workers; r++) {
            if (b[r] == null || receivedBytes[r] < b[r].length) {
                sb.append(sb.length() == 0 ? "" : ",").append(r);
            }
        }
        return sb.toString();
    }
}
