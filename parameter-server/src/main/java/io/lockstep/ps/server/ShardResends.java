package io.lockstep.ps.server;

import io.lockstep.ps.session.AskClock;
import io.lockstep.ps.session.BoundSubscriptions;
import io.lockstep.ps.session.OutOfStep;
import io.lockstep.ps.wire.FrameHeader;

import java.util.Arrays;

/**
 * A shard's bookkeeping of resends, both ways (no I/O: {@link ShardAsks} and {@link ShardAnswers} send what this
 * decides).
 *
 * <p><b>Why.</b> Aeron keeps the first frame written at a stream position: a forged frame (or a PAD frame) placed at
 * the next term offset of a sender's session wins, Lockstep drops it as unauthenticated, and the genuine frame that
 * arrives next at that position is discarded by Aeron as a duplicate. Before resends one such datagram cost the whole
 * step: the shard waited for a chunk that would never come, until the stall budget failed the attempt.
 *
 * <p><b>Asking a rank.</b> A rank whose chunks of the step are not all in is asked for them again
 * ({@link FrameHeader#TYPE_RESEND}, sealed) right after a frame on its session failed authentication or was
 * malformed, or once it has made no progress for {@value AskClock#FIRST_ASK_MS} ms (doubling up to a second while it
 * stays silent: a rank still computing costs one small frame per interval; {@link AskClock}). The request carries how far the shard has read
 * that rank's stream ({@link BoundSubscriptions#position}); the rank sends again only chunks whose frames ended below
 * that position, so a chunk still on its way is never sent twice.
 *
 * <p><b>Answering a worker.</b> A worker asks the same way for averages (or parameters) of the current step, or of
 * the step just finished; the shard sends again those whose frames ended below the worker's read position. Each
 * resend of a chunk carries its resend count, which enters the nonce ({@link FrameHeader#nonceStep}).
 *
 * <p>Single-threaded: the shard's agent thread.
 */
final class ShardResends {
    private final int chunkCount;
    private final AskClock clock;          // by rank
    private int askSeq;                    // asks this step (their nonces)

    private long[] endCurrent;    // by chunk: stream position after its answer of the current step went out; 0: not yet
    private long[] endPrevious;   // the same for the step just finished
    private int[] resendCurrent;  // by chunk: times its answer of the current step was sent again
    private int[] resendPrevious;
    private boolean[] dueCurrent; // by chunk: to be sent again
    private boolean[] duePrevious;
    private int due;
    private final long[] lastAskStep;  // by rank: the step of the last ask it sent us (replays are stale)
    private final OutOfStep outOfStep;
    private final long[] lastAskSeq;   // by rank

    ShardResends(int workers, int chunkCount) {
        this.chunkCount = chunkCount;
        clock = new AskClock(workers);
        endCurrent = new long[chunkCount];
        endPrevious = new long[chunkCount];
        resendCurrent = new int[chunkCount];
        resendPrevious = new int[chunkCount];
        dueCurrent = new boolean[chunkCount];
        duePrevious = new boolean[chunkCount];
        lastAskStep = new long[workers];
        lastAskSeq = new long[workers];
        outOfStep = new OutOfStep(workers);
        Arrays.fill(lastAskStep, -1);
    }

    /** The step's first frame is in: every rank's silence is timed from now. */
    void onStepStarted(long nowNs) {
        clock.restart(nowNs);
    }

    void onChunk(int rank, long nowNs) {
        clock.onProgress(rank, nowNs);
    }

    /** A frame on {@code rank}'s session was dropped as malformed or stale or, with {@code forged}, failed authentication. */
    void onBadFrame(int rank, boolean forged) {
        clock.onBadFrame(rank, forged);
    }

    /** True when {@code rank} (whose chunks are not all in) should be asked for them now ({@link AskClock}). */
    boolean shouldAsk(int rank, long nowNs) {
        return clock.shouldAsk(rank, nowNs);
    }

    /** {@code rank} was just asked; returns the ask's sequence number (its nonce within the step). */
    int asked(int rank, long nowNs) {
        clock.asked(rank, nowNs);
        return askSeq++;
    }

    /** Takes a worker's ask, once its tag held: false for a replay (not a later ask of that rank for that step). */
    boolean acceptAsk(int rank, long step, int seq) {
        if (step < lastAskStep[rank] || step == lastAskStep[rank] && seq <= lastAskSeq[rank]) {
            return false;
        }
        lastAskStep[rank] = step;
        lastAskSeq[rank] = seq;
        return true;
    }

    /** As {@link OutOfStep#onAsk}: {@code rank}'s ask shows it reads this stream out of step. */
    boolean looksBroken(int rank, long readPosition, long written, long nowNs) {
        return outOfStep.onAsk(rank, readPosition, written, nowNs);
    }

    /**
     * Marks the chunks in [first, first + count) of the current ({@code current}) or previous step whose answers
     * ended at or below {@code readPosition} to go out again.
     */
    void markDue(boolean current, int first, int count, long readPosition) {
        long[] end = current ? endCurrent : endPrevious;
        boolean[] marks = current ? dueCurrent : duePrevious;
        for (int c = Math.max(0, first), last = (int) Math.min(chunkCount, (long) first + count); c < last; c++) {
            if (end[c] != 0 && end[c] <= readPosition && !marks[c]) {
                marks[c] = true;
                due++;
            }
        }
    }

    /**
     * The answers now go out on a new session: everything sent on the old one counts as lost, the current step's
     * answers go out again at once, and every rank's read positions start over.
     */
    void onRestart() {
        outOfStep.reset();
        for (int c = 0; c < chunkCount; c++) {
            if (endPrevious[c] != 0) {
                endPrevious[c] = OutOfStep.LOST;
            }
            if (endCurrent[c] != 0) {
                endCurrent[c] = OutOfStep.LOST;
                if (!dueCurrent[c]) {
                    dueCurrent[c] = true;
                    due++;
                }
            }
        }
    }

    /** True when some answer is to go out again. */
    boolean anyDue() {
        return due > 0;
    }

    /** The next chunk of the current ({@code current}) or previous step to send again, or -1. */
    int nextDue(boolean current) {
        boolean[] marks = current ? dueCurrent : duePrevious;
        for (int c = 0; c < chunkCount; c++) {
            if (marks[c]) {
                return c;
            }
        }
        return -1;
    }

    /** The resend count the next copy of the chunk's answer carries (1 for its first resend). */
    int nextResend(boolean current, int chunk) {
        return (current ? resendCurrent : resendPrevious)[chunk] + 1;
    }

    /** The chunk's answer went out, ending at stream position {@code end}; {@code resend} 0 for the first copy. */
    void onAnswerSent(boolean current, int chunk, int resend, long end) {
        (current ? endCurrent : endPrevious)[chunk] = end;
        if (resend > 0) {
            (current ? resendCurrent : resendPrevious)[chunk] = resend;
            boolean[] marks = current ? dueCurrent : duePrevious;
            if (marks[chunk]) {
                marks[chunk] = false;
                due--;
            }
        }
    }

    /** The step is done: its answers become the previous step's, and every rank's record starts over. */
    void onAdvance() {
        long[] end = endPrevious;
        endPrevious = endCurrent;
        endCurrent = end;
        Arrays.fill(endCurrent, 0);
        int[] resend = resendPrevious;
        resendPrevious = resendCurrent;
        resendCurrent = resend;
        Arrays.fill(resendCurrent, 0);
        boolean[] marks = duePrevious;
        for (boolean m : marks) {
            due -= m ? 1 : 0;
        }
        duePrevious = dueCurrent;
        dueCurrent = marks;
        Arrays.fill(dueCurrent, false);
        clock.clearBadFrames();
        askSeq = 0;
    }

    /** How often {@code rank}'s frames failed authentication this step. */
    int authFailures(int rank) {
        return clock.authFailures(rank);
    }
}
