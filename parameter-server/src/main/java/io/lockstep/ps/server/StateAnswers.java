package io.lockstep.ps.server;

import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.optim.SliceOptimizer;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.JobSecret;
import io.lockstep.ps.wire.WireFormat;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.AgentTerminationException;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * A shard's answers to a worker's request for its optimizer state (a checkpoint, with the optimizer on the server):
 * between steps, the state of the slice after the step last completed goes out as {@link FrameHeader#TYPE_STATE}
 * frames, each state slot chunk by chunk, resuming on the next cycle when back-pressured. On the shard's thread.
 */
final class StateAnswers {
    private final ShardAggregator aggregator;
    private final ShardLayout layout;
    private final SliceOptimizer optimizer;
    private final ShardDownstream downstream;
    private final DropCounters drops;
    private final long jobId;
    private final FrameCipher sealer;
    private final FrameCipher[] requests; // by rank
    private final GradientFrame request = new GradientFrame();
    private final GradientFrame out = new GradientFrame();
    private long stateStep = -1;   // the step whose state goes out, or went out last (one answer per step)
    private int stateSent = -1;    // state chunks sent; -1: no request pending
    private UnsafeBuffer snapshot; // the state being sent, copied out at the request

    StateAnswers(ShardAggregator aggregator, ShardLayout layout, SliceOptimizer optimizer, ShardDownstream downstream,
                 DropCounters drops, long jobId, JobSecret secret, int workers) {
        this.aggregator = aggregator;
        this.layout = layout;
        this.optimizer = optimizer;
        this.downstream = downstream;
        this.drops = drops;
        this.jobId = jobId;
        this.sealer = new FrameCipher(secret, jobId, FrameHeader.TYPE_STATE, GradientFrame.SERVER_RANK,
            new FrameCipher.Scratch());
        this.requests = FrameCipher.perRank(secret, jobId, FrameHeader.TYPE_STATE_REQUEST, workers,
            new FrameCipher.Scratch());
    }

    /**
     * Accepts one authenticated request per step, for the step last completed: the state then is exactly
     * the state after that step (the next cannot complete before the asking worker sends its gradient).
     */
    void onRequest(DirectBuffer buffer, int offset, int length) {
        GradientFrame f = request.wrap(buffer, offset, length);
        long last = aggregator.step() - 1;
        if (!f.isWellFormed() || f.encoding() != WireFormat.FP32.code() || f.jobId() != jobId || f.length() != 0
            || f.shard() != aggregator.shard() || f.rank() < 0 || f.rank() >= requests.length) {
            drops.recordMalformed();
            return;
        }
        if (f.step() != last || last <= stateStep) {
            drops.record(f.step() < last || last <= stateStep ? ShardAggregator.Outcome.STALE_STEP
                : ShardAggregator.Outcome.MALFORMED);
            return;
        }
        if (requests[f.rank()].open(buffer, offset, GradientFrame.HEADER_LENGTH, 0, f.step(), f.shard()) == null) {
            drops.record(ShardAggregator.Outcome.UNAUTHENTICATED);
            return;
        }
        stateStep = last;
        stateSent = 0;
        snapshot = optimizer.state(); // copied out once per request
    }

    /** Sends what is left of the requested state, if any; the frames sent. */
    int send() {
        if (stateSent < 0) {
            return 0;
        }
        int chunks = aggregator.chunkCount();
        int total = optimizer.stateSlots() * chunks;
        int work = 0;
        while (stateSent < total) {
            if (!sendChunk(stateSent / chunks, stateSent % chunks)) {
                return work;
            }
            stateSent++;
            work++;
        }
        stateSent = -1;
        return work;
    }

    private boolean sendChunk(int slot, int chunk) {
        int shard = aggregator.shard();
        int chunks = aggregator.chunkCount();
        int length = layout.chunkLength(shard, chunk);
        int inShard = layout.chunkStart(shard, chunk) - layout.shardStart(shard);
        int offset = Math.toIntExact((long) slot * layout.paramCount() + layout.chunkStart(shard, chunk));
        if (!downstream.claim(GradientFrame.frameLength(length))) {
            return false;
        }
        int index = downstream.claim.offset();
        try {
            out.wrapForWrite(downstream.claim.buffer(), index, downstream.claim.length())
                .header(FrameHeader.TYPE_STATE, jobId, stateStep, GradientFrame.SERVER_RANK, shard,
                    slot * chunks + chunk, optimizer.stateSlots() * chunks, 0, 0f, offset, length);
            sealer.seal(downstream.claim.buffer(), index, GradientFrame.HEADER_LENGTH, snapshot,
                (slot * layout.shardLength(shard) + inShard) * Float.BYTES, length * Float.BYTES, stateStep, offset);
        } catch (RuntimeException e) {
            downstream.claim.abort();
            throw new AgentTerminationException(e);
        }
        downstream.claim.commit();
        return true;
    }
}
