package io.lockstep.ps.session;


import java.util.Arrays;

/**
 * The one rule for telling, from a receiver's asks, that it reads a sender's stream out of step ({@code ShardResends},
 * {@code ClientResends}): the receiver claims to have read past what was ever written, or {@value #ASKS} asks in a row
 * over at least {@value #STUCK_MS} ms report the same read position while more was written past it (a
 * forged frame whose length ends inside a genuine one leaves a reader stuck there). The time keeps a frame that is
 * merely late (a loaded machine, a driver thread busy with a flood) from starting a session over. One slot per peer;
 * single-threaded.
 */
public final class OutOfStep {
    /** The end of an answer sent on a stream since abandoned: below any read position, so any ask sends it again. */
    public static final long LOST = Long.MIN_VALUE;
    static final long STUCK_MS = 100;
    private static final long STUCK_NS = STUCK_MS * 1_000_000L;
    private static final int ASKS = 3;
    private final long[] lastPosition;
    private final long[] stuckSinceNs;
    private final int[] stuckAsks;

    public OutOfStep(int peers) {
        lastPosition = new long[peers];
        stuckSinceNs = new long[peers];
        stuckAsks = new int[peers];
        reset();
    }

    /** True when {@code peer}'s ask, reporting {@code readPosition} of a stream written up to {@code written}, shows it. */
    public boolean onAsk(int peer, long readPosition, long written, long nowNs) {
        if (readPosition > written) {
            return true;
        }
        if (readPosition < written && readPosition == lastPosition[peer]) {
            return ++stuckAsks[peer] >= ASKS - 1 && nowNs - stuckSinceNs[peer] >= STUCK_NS;
        }
        stuckAsks[peer] = 0;
        lastPosition[peer] = readPosition;
        stuckSinceNs[peer] = nowNs;
        return false;
    }

    /** A new session: every peer's record starts over. */
    public void reset() {
        Arrays.fill(lastPosition, -1);
        Arrays.fill(stuckAsks, 0);
    }
}
