package io.lockstep.ps.media;

/**
 * How many bytes one publication may retransmit: {@value #TRAFFIC_MULTIPLE} times what it has sent since it started,
 * plus a {@value #BURST}-byte burst and {@value #BYTES_PER_SECOND} bytes a second, and never more than
 * {@value #FRAMES_PER_NAK} frames for one NAK.
 *
 * <p>Why: a NAK is 28 bytes and Aeron answers it with up to {@code min(128 KiB, term/2) × 16} bytes (unicast) or
 * {@code × 4} (multi-destination) of retransmission, whatever was asked before; measured before, 1,440 forged NAKs
 * drew 1.29 GB. With this budget retransmissions from any number of NAKs, genuine or forged, stay below twice the
 * stream's own traffic plus a trickle, while genuine loss recovery always makes progress: loss of a few percent
 * needs a few percent of the traffic again, a gap of G bytes about G / (4 MTU) NAK round trips, and the trickle alone
 * refills a 64 KB frame's worth within 64 ms even on a stream that cannot send (its window held by the loss).
 * Single-threaded: the media driver's sender thread.
 */
final class RetransmitBudget {
    static final long BURST = 1 << 20;
    static final long BYTES_PER_SECOND = 1L << 20;
    static final int TRAFFIC_MULTIPLE = 2;
    static final int FRAMES_PER_NAK = 4;

    private long firstPosition = -1;
    private long sentPosition;
    private long startNs;
    private long nowNs;
    private long granted;
    private WireGuards guards = WireGuards.process(); // the driver's, once the flow control is initialised

    /** Counts into the guards of {@code context}'s media driver from now on, and returns them. */
    WireGuards countInto(io.aeron.driver.MediaDriver.Context context) {
        guards = WireGuards.of(context.aeronDirectoryName());
        return guards;
    }

    /** Follows what the publication has sent (its sender position) and the time (the driver's idle calls). */
    void onIdle(long timeNs, long senderPosition) {
        if (firstPosition < 0) {
            firstPosition = senderPosition;
            startNs = timeNs;
        }
        sentPosition = Math.max(sentPosition, senderPosition);
        nowNs = Math.max(nowNs, timeNs);
    }

    /** The length to retransmit for a NAK asking {@code asked} bytes that Aeron would cap at {@code aeronCap}. */
    int grant(int asked, int aeronCap, int mtuLength) {
        long sent = firstPosition < 0 ? 0 : sentPosition - firstPosition;
        long elapsedNs = firstPosition < 0 ? 0 : nowNs - startNs;
        long allowed = BURST + TRAFFIC_MULTIPLE * sent + elapsedNs / 1_000_000_000L * BYTES_PER_SECOND
            + (elapsedNs % 1_000_000_000L) * BYTES_PER_SECOND / 1_000_000_000L - granted;
        int wanted = Math.min(Math.min(asked, aeronCap), FRAMES_PER_NAK * mtuLength);
        int length = (int) Math.max(0, Math.min(wanted, allowed));
        granted += length;
        guards.retransmitted(length, wanted - length);
        return length;
    }
}
