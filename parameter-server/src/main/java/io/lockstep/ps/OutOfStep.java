package io.lockstep.ps;

import java.util.Arrays;

/**
 * The one rule for telling, from a receiver's asks, that it reads a sender's stream out of step ({@link ShardResends},
 * {@link ClientResends}): the receiver claims to have read past what was ever written, or {@value #ASKS} asks in a row
 * over at least {@value ShardResends#STUCK_MS} ms report the same read position while more was written past it (a
 * forged frame whose length ends inside a genuine one leaves a reader stuck there). The time keeps a frame that is
 * merely late (a loaded machine, a driver thread busy with a flood) from starting a session over. One slot per peer;
 * single-threaded.
 */
final class OutOfStep {
    private static final int ASKS = 3;
    private final long[] lastPosition;
    private final long[] stuckSinceNs;
    private final int[] stuckAsks;

    OutOfStep(int peers) {
        lastPosition = new long[peers];
        stuckSinceNs = new long[peers];
        stuckAsks = new int[peers];
        reset();
    }

    /** True when {@code peer}'s ask, reporting {@code readPosition} of a stream written up to {@code written}, shows it. */
    boolean onAsk(int peer, long readPosition, long written, long nowNs) {
        if (readPosition > written) {
            return true;
        }
        if (readPosition < written && readPosition == lastPosition[peer]) {
            return ++stuckAsks[peer] >= ASKS - 1 && nowNs - stuckSinceNs[peer] >= ShardResends.STUCK_NS;
        }
        stuckAsks[peer] = 0;
        lastPosition[peer] = readPosition;
        stuckSinceNs[peer] = nowNs;
        return false;
    }

    /** A new session: every peer's record starts over. */
    void reset() {
        Arrays.fill(lastPosition, -1);
        Arrays.fill(stuckAsks, 0);
    }
}
