package io.lockstep.ps.server;

import io.lockstep.ps.session.BoundSubscriptions;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.JobSecret;
import io.lockstep.ps.wire.WireFormat;
import org.agrona.BufferUtil;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.AgentTerminationException;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * A shard's asks, both ways, over what {@link ShardResends} decides: the shard asks a rank whose chunks are not all
 * in for them again, and takes a rank's ask for answers again (marking them due, or starting the answers over on a
 * new session when the rank's asks show it reads them out of step). On the shard's thread.
 */
final class ShardAsks {
    private final ShardAggregator aggregator;
    private final BoundSubscriptions upstream;
    private final ShardDownstream downstream;
    private final ShardResends resends;
    private final ResendCounters counters;
    private final DropCounters drops;
    private final long jobId;
    private final FrameCipher sealer;      // this shard's asks to the ranks
    private final FrameCipher[] fromRank;  // the ranks' asks to this shard
    private final GradientFrame ask = new GradientFrame();
    private final GradientFrame out = new GradientFrame();
    private final UnsafeBuffer payload = new UnsafeBuffer(BufferUtil.allocateDirectAligned(Long.BYTES, 8));

    ShardAsks(ShardAggregator aggregator, BoundSubscriptions upstream, ShardDownstream downstream,
              ShardResends resends, ResendCounters counters, DropCounters drops, long jobId, JobSecret secret,
              int workers) {
        this.aggregator = aggregator;
        this.upstream = upstream;
        this.downstream = downstream;
        this.resends = resends;
        this.counters = counters;
        this.drops = drops;
        this.jobId = jobId;
        this.sealer = new FrameCipher(secret, jobId, FrameHeader.TYPE_RESEND,
            GradientFrame.askSender(aggregator.shard()), new FrameCipher.Scratch());
        this.fromRank = FrameCipher.perRank(secret, jobId, FrameHeader.TYPE_RESEND, workers,
            new FrameCipher.Scratch());
    }

    /**
     * A rank asks for this shard's answers of the current step, or of the one just finished, again: the chunks in
     * its range whose frames ended below its read position (the payload) go out again on the next duty cycles.
     */
    void onAsk(DirectBuffer buffer, int offset, int length, int sender, long nowNs) {
        GradientFrame f = ask.wrap(buffer, offset, length);
        long current = aggregator.step();
        if (!f.isWellFormed() || f.length() != 2 || f.encoding() != WireFormat.FP32.code() || f.jobId() != jobId
            || f.rank() != sender || f.shard() != aggregator.shard() || f.resend() != 0) {
            drops.recordMalformed();
            return;
        }
        long step = f.step();
        if (step != current && step != current - 1) {
            drops.record(step < current ? ShardAggregator.Outcome.STALE_STEP : ShardAggregator.Outcome.MALFORMED);
            return;
        }
        DirectBuffer plain = fromRank[sender].open(buffer, offset, GradientFrame.HEADER_LENGTH, Long.BYTES, step,
            f.valueOffset());
        if (plain == null) {
            drops.record(ShardAggregator.Outcome.UNAUTHENTICATED);
            return;
        }
        upstream.genuine();
        if (!resends.acceptAsk(sender, step, f.valueOffset())) {
            drops.record(ShardAggregator.Outcome.STALE_STEP); // a replayed ask
            return;
        }
        if (f.samples() != downstream.generation()) {
            return; // about a session since abandoned: the restart sent everything again
        }
        long readPosition = plain.getLong(0, FrameHeader.ORDER);
        if (resends.looksBroken(sender, readPosition, downstream.position(), nowNs)) {
            restart();
        }
        resends.markDue(step == current, f.chunk(), f.chunkCount(), readPosition);
        counters.askTaken();
    }

    /** Starts the answers over on a new session: everything sent on the old one goes out again. */
    private void restart() {
        downstream.restart();
        resends.onRestart();
        counters.restarted();
    }

    /** Asks every rank whose chunks are not all in, and that is due ({@link ShardResends}), for them again. */
    int askForMissing(long nowNs) {
        int work = 0;
        for (int r = 0, n = aggregator.workers(); r < n; r++) {
            if (!aggregator.hasAll(r) && resends.shouldAsk(r, nowNs) && sendAsk(r, nowNs)) {
                work++;
            }
        }
        return work;
    }

    /**
     * One ask to {@code rank} for its first run of missing chunks, with how far its stream was read (a later run
     * is asked for by a later ask).
     */
    private boolean sendAsk(int rank, long nowNs) {
        if (!downstream.claim(GradientFrame.frameLength(2))) {
            return false;
        }
        int first = aggregator.lowestMissingFrom(rank);
        int end = first;
        while (end < aggregator.chunkCount() && !aggregator.has(rank, end)) {
            end++; // the first run of missing chunks: the rank sends only those it has passed, never one that is in
        }
        int seq = resends.asked(rank, nowNs);
        int index = downstream.claim.offset();
        try {
            payload.putLong(0, upstream.position(rank), FrameHeader.ORDER);
            out.wrapForWrite(downstream.claim.buffer(), index, downstream.claim.length())
                .header(FrameHeader.TYPE_RESEND, jobId, aggregator.step(), rank, aggregator.shard(), first,
                    end - first, upstream.generation(rank), 0f, seq, 2);
            sealer.seal(downstream.claim.buffer(), index, GradientFrame.HEADER_LENGTH, payload, 0, Long.BYTES,
                aggregator.step(), seq);
        } catch (RuntimeException e) {
            downstream.claim.abort();
            throw new AgentTerminationException(e);
        }
        downstream.claim.commit();
        counters.askSent();
        return true;
    }
}
