package io.lockstep.ps.server;

import io.aeron.Publication;
import io.aeron.logbuffer.BufferClaim;
import io.lockstep.ps.session.AskClock;
import io.lockstep.ps.session.BoundSubscriptions;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.JobSecret;
import org.agrona.BufferUtil;
import org.agrona.concurrent.AgentTerminationException;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The all-gather endpoint's asks to the ranks: a rank whose blob of the open round is not all in, after a bad frame
 * on its session or silence ({@link AskClock}), is asked for its pieces again, with how far its uploads were read.
 * On the endpoint's thread.
 */
final class GatherAsks {
    private final GatherAggregator aggregator;
    private final BoundSubscriptions upstream;
    private final Publication downstream;
    private final BufferClaim claim;
    private final ResendCounters counters;
    private final long jobId;
    private final int workers;
    private final FrameCipher sealer;
    private final UnsafeBuffer payload = new UnsafeBuffer(BufferUtil.allocateDirectAligned(8, 8));
    private final GradientFrame out = new GradientFrame();
    private final AskClock clock; // by rank
    private long seq;             // over the job: the asks' nonces

    GatherAsks(GatherAggregator aggregator, BoundSubscriptions upstream, Publication downstream, BufferClaim claim,
               ResendCounters counters, long jobId, JobSecret secret, int workers) {
        this.aggregator = aggregator;
        this.upstream = upstream;
        this.downstream = downstream;
        this.claim = claim;
        this.counters = counters;
        this.jobId = jobId;
        this.workers = workers;
        this.sealer = new FrameCipher(secret, jobId, FrameHeader.TYPE_GATHER_ASK, GradientFrame.SERVER_RANK,
            new FrameCipher.Scratch());
        this.clock = new AskClock(workers);
    }

    /** A round opened: every rank's silence counts from now. */
    void onRoundOpened(long nowNs) {
        clock.restart(nowNs);
    }

    /** A piece of {@code rank}'s blob was taken. */
    void onProgress(int rank, long nowNs) {
        clock.onProgress(rank, nowNs);
    }

    /** A frame on {@code rank}'s session failed: ask it on the next cycle. */
    void onBadFrame(int rank) {
        clock.onBadFrame(rank, false);
    }

    /**
     * Asks each rank whose blob of the open round is not all in, after a bad frame on its session or
     * {@value AskClock#FIRST_ASK_MS} ms without progress (doubling to a second), for its pieces again, with how
     * far its uploads were read; with no round open, a rank after a bad frame (its round's first piece may have been
     * the one forged over: the endpoint opens a round only on an authenticated piece).
     */
    int askForMissing() {
        long now = System.nanoTime();
        boolean open = aggregator.isOpen() && aggregator.blobs() != null && !aggregator.isComplete();
        int work = 0;
        for (int r = 0; r < workers; r++) {
            boolean waiting = open && !aggregator.hasAll(r);
            if (!(clock.suspect(r) || waiting && clock.overdue(r, now))) {
                continue;
            }
            long round = open ? aggregator.round() : -1;
            if (!sendAsk(r, round)) {
                return work;
            }
            clock.asked(r, now);
            work++;
        }
        return work;
    }

    private boolean sendAsk(int rank, long round) {
        long result = downstream.tryClaim(GradientFrame.frameLength(2), claim);
        if (result < 0) {
            return false; // again on the next cycle; the forwards' own deadline covers a publication that stays shut
        }
        int index = claim.offset();
        try {
            long seq = this.seq++;
            payload.putLong(0, upstream.position(rank), FrameHeader.ORDER);
            out.wrapForWrite(claim.buffer(), index, claim.length())
                .header(FrameHeader.TYPE_GATHER_ASK, jobId, round, rank, 0, round < 0 ? 0 : aggregator.receivedFrom(rank),
                    0, 0, 0f, (int) seq, 2);
            sealer.seal(claim.buffer(), index, GradientFrame.HEADER_LENGTH, payload, 0, Long.BYTES, round, (int) seq);
        } catch (RuntimeException e) {
            claim.abort();
            throw new AgentTerminationException(e);
        }
        claim.commit();
        counters.askSent();
        return true;
    }
}
