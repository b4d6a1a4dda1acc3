package io.lockstep.ps.session;


import java.util.Arrays;

/**
 * When to ask a peer that owes frames for them again: right after a bad frame on its session (forged, malformed or
 * stale: it may have taken a genuine frame's place), or once it has been silent for {@value #FIRST_ASK_MS} ms,
 * doubling up to a second while it stays silent (a peer still computing costs one small frame per interval). One
 * rule for the shards asking ranks ({@code ShardResends}), the workers asking shards ({@code ClientResends}) and the
 * all-gather endpoint asking ranks ({@code GatherAgent}). One slot per peer; single-threaded.
 */
public final class AskClock {
    public static final long FIRST_ASK_MS = 5;
    private static final long FIRST_ASK_NS = FIRST_ASK_MS * 1_000_000L;
    private static final long MAX_ASK_NS = 1_000_000_000L;

    private final long[] lastNs;      // by peer: progress, or an ask out
    private final long[] intervalNs;  // by peer
    private final boolean[] suspect;  // by peer: a bad frame on its session since the last ask
    private final int[] authFailures; // by peer, since clearBadFrames

    public AskClock(int peers) {
        lastNs = new long[peers];
        intervalNs = new long[peers];
        suspect = new boolean[peers];
        authFailures = new int[peers];
    }

    /** Every peer's silence is timed from now (a step or round started). */
    public void restart(long nowNs) {
        Arrays.fill(lastNs, nowNs);
        Arrays.fill(intervalNs, FIRST_ASK_NS);
    }

    /** Forgets the bad frames seen so far (a new step). */
    public void clearBadFrames() {
        Arrays.fill(suspect, false);
        Arrays.fill(authFailures, 0);
    }

    /** A frame of {@code peer}'s came in: its silence starts over. */
    public void onProgress(int peer, long nowNs) {
        lastNs[peer] = nowNs;
        intervalNs[peer] = FIRST_ASK_NS;
    }

    /** A frame on {@code peer}'s session was dropped; with {@code forged} it failed authentication. */
    public void onBadFrame(int peer, boolean forged) {
        suspect[peer] = true;
        if (forged) {
            authFailures[peer]++;
        }
    }

    /** True after a bad frame on {@code peer}'s session since the last ask. */
    public boolean suspect(int peer) {
        return suspect[peer];
    }

    /** True once {@code peer} has been silent for longer than its interval. */
    public boolean overdue(int peer, long nowNs) {
        return nowNs - lastNs[peer] > intervalNs[peer];
    }

    /** True when {@code peer} (which owes frames) should be asked now. */
    public boolean shouldAsk(int peer, long nowNs) {
        return suspect(peer) || overdue(peer, nowNs);
    }

    /** {@code peer} was just asked: the next ask waits twice as long. */
    public void asked(int peer, long nowNs) {
        suspect[peer] = false;
        lastNs[peer] = nowNs;
        intervalNs[peer] = Math.min(intervalNs[peer] * 2, MAX_ASK_NS);
    }

    /** How often {@code peer}'s frames failed authentication since {@link #clearBadFrames()}. */
    public int authFailures(int peer) {
        return authFailures[peer];
    }
}
