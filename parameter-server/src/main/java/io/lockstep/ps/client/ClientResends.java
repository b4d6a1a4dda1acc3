package io.lockstep.ps.client;

import io.lockstep.ps.session.AskClock;
import io.lockstep.ps.session.OutOfStep;
import io.lockstep.ps.wire.FrameHeader;

import java.util.Arrays;

/**
 * A worker's bookkeeping of resends, both ways (no I/O: {@link GradientClient} sends what this decides); the
 * mirror of {@code ShardResends}, which says why they exist.
 *
 * <p><b>Asking a shard.</b> A shard whose answers (averages or parameters) of the step are not all in, once this
 * worker has sent it every chunk, is asked for them again right after a frame on its session failed authentication
 * or was malformed, or once it has sent nothing for {@value AskClock#FIRST_ASK_MS} ms (doubling up to a second),
 * with how far this worker has read the shard's stream.
 *
 * <p><b>Answering a shard.</b> A shard asks for gradient chunks; the worker sends again those whose frames ended at
 * or below the shard's read position, with their resend count in the nonce ({@link FrameHeader#nonceStep}).
 *
 * <p>Single-threaded, like its client.
 */
final class ClientResends {
    private final AskClock clock;         // by shard
    private final OutOfStep outOfStep;
    private final long[] lastAskSeq;      // by shard: the last ask taken this step (replays are stale)
    private long restarts;
    private final long[] sentEnd;         // by slot: stream position after its frame went out; 0: not yet
    private final int[] resends;          // by slot: times it was sent again
    private final boolean[] due;          // by slot: to be sent again
    private int dueCount;
    private int askSeq;
    private long asksSent;
    private long asksTaken;
    private long chunksResent;

    ClientResends(int shards, int slots) {
        clock = new AskClock(shards);
        lastAskSeq = new long[shards];
        outOfStep = new OutOfStep(shards);
        sentEnd = new long[slots];
        resends = new int[slots];
        due = new boolean[slots];
    }

    /** A new step: nothing sent, nothing asked, every shard's silence timed from now. */
    void onStep(long nowNs) {
        clock.restart(nowNs);
        clock.clearBadFrames();
        Arrays.fill(lastAskSeq, -1);
        Arrays.fill(sentEnd, 0);
        Arrays.fill(resends, 0);
        Arrays.fill(due, false);
        dueCount = 0;
        askSeq = 0;
    }

    void onAnswer(int shard, long nowNs) {
        clock.onProgress(shard, nowNs);
    }

    void onBadFrame(int shard, boolean forged) {
        clock.onBadFrame(shard, forged);
    }

    boolean shouldAsk(int shard, long nowNs) {
        return clock.shouldAsk(shard, nowNs);
    }

    /** {@code shard} was just asked; returns the ask's sequence number (its nonce within the step). */
    int asked(int shard, long nowNs) {
        clock.asked(shard, nowNs);
        asksSent++;
        return askSeq++;
    }

    /** Takes a shard's ask, once its tag held: false for a replay (not a later ask of that shard this step). */
    boolean acceptAsk(int shard, int seq) {
        if (seq <= lastAskSeq[shard]) {
            return false;
        }
        lastAskSeq[shard] = seq;
        asksTaken++;
        return true;
    }

    /** As {@link OutOfStep#onAsk}: {@code shard}'s ask shows it reads this stream out of step. */
    boolean looksBroken(int shard, long readPosition, long written, long nowNs) {
        return outOfStep.onAsk(shard, readPosition, written, nowNs);
    }

    /** Marks the slots in [from, to) whose frames ended at or below {@code readPosition} to go out again. */
    void markDue(int from, int to, long readPosition) {
        for (int slot = from; slot < to; slot++) {
            if (sentEnd[slot] != 0 && sentEnd[slot] <= readPosition && !due[slot]) {
                due[slot] = true;
                dueCount++;
            }
        }
    }

    /** The slots in [from, to) went out on a session now abandoned: all that were sent go out again. */
    void onRestart(int from, int to) {
        restarts++;
        outOfStep.reset();
        for (int slot = from; slot < to; slot++) {
            if (sentEnd[slot] != 0) {
                sentEnd[slot] = OutOfStep.LOST;
                if (!due[slot]) {
                    due[slot] = true;
                    dueCount++;
                }
            }
        }
    }

    boolean anyDue() {
        return dueCount > 0;
    }

    /** The first slot to send again, or -1. */
    int nextDue() {
        for (int slot = 0; slot < due.length; slot++) {
            if (due[slot]) {
                return slot;
            }
        }
        return -1;
    }

    int nextResend(int slot) {
        return resends[slot] + 1;
    }

    /** The slot's frame went out ({@code resend} 0: the first copy), ending at stream position {@code end}. */
    void onSent(int slot, int resend, long end) {
        sentEnd[slot] = end;
        if (resend > 0) {
            resends[slot] = resend;
            chunksResent++;
            if (due[slot]) {
                due[slot] = false;
                dueCount--;
            }
        }
    }

    int authFailures(int shard) {
        return clock.authFailures(shard);
    }

    long asksSent() { return asksSent; }
    long asksTaken() { return asksTaken; }
    long chunksResent() { return chunksResent; }
    long restarts() { return restarts; }
}
