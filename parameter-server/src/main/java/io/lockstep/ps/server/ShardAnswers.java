package io.lockstep.ps.server;

import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.optim.SliceOptimizer;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.HalfCodec;
import io.lockstep.ps.wire.JobSecret;
import io.lockstep.ps.wire.WireFormat;
import org.agrona.BufferUtil;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.AgentTerminationException;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * A shard's answer frames: a chunk's average ({@link FrameHeader#TYPE_AVERAGE}), or with the optimizer on the server
 * its new parameters ({@link FrameHeader#TYPE_PARAMS}, header-only and flagged {@link FrameHeader#FLAG_SKIPPED} when
 * the step was skipped), of the current step or of the one just finished, sealed into a claim of the
 * {@link ShardDownstream}; and the answers workers asked for again ({@link ShardResends}).
 *
 * <p>With a 16-bit wire ({@link WireFormat}) and the optimizer on the workers, averages go out rounded to the
 * job's format with error feedback: the rounding residual of each value sent (an off-heap vector over the slice,
 * allocated once) is added to the next step's average before rounding. Parameters always go out as float32.
 * On the shard's thread.
 */
final class ShardAnswers {
    private final ShardAggregator aggregator;
    private final ShardLayout layout;
    private final SliceOptimizer optimizer; // null: averages go back, workers apply the optimizer
    private final ShardDownstream downstream;
    private final ShardResends resends;
    private final ResendCounters counters;
    private final long jobId;
    private final FrameCipher sealer;
    private final GradientFrame out = new GradientFrame();
    private final UnsafeBuffer residual; // 16-bit averages: what rounding dropped, by value of the slice
    private final UnsafeBuffer encoded;  // 16-bit averages: the slice as last rounded, sealed from here (and resent)
    private boolean skipped; // server optimizer: the current step's outcome, which its parameters frames carry
    private float norm;
    private boolean previousSkipped; // server optimizer: the step just finished, for answers sent again
    private float previousNorm;

    ShardAnswers(ShardAggregator aggregator, ShardLayout layout, SliceOptimizer optimizer, ShardDownstream downstream,
                 ShardResends resends, ResendCounters counters, long jobId, JobSecret secret) {
        this.aggregator = aggregator;
        this.layout = layout;
        this.optimizer = optimizer;
        this.downstream = downstream;
        this.resends = resends;
        this.counters = counters;
        this.jobId = jobId;
        this.sealer = new FrameCipher(secret, jobId, optimizer == null ? FrameHeader.TYPE_AVERAGE
            : FrameHeader.TYPE_PARAMS, GradientFrame.SERVER_RANK, new FrameCipher.Scratch());
        boolean rounds = optimizer == null && aggregator.wire().rounds();
        int shard = aggregator.shard();
        this.residual = rounds ? new UnsafeBuffer(BufferUtil.allocateDirectAligned(
            Math.max(1, layout.shardLength(shard)) * Float.BYTES, 64)) : null;
        this.encoded = rounds ? new UnsafeBuffer(BufferUtil.allocateDirectAligned(
            Math.max(1, layout.shardLength(shard)) * aggregator.wire().bytesPerValue(), 64)) : null;
    }

    /** Server optimizer: the current step was applied or skipped, with this global gradient norm. */
    void decided(boolean skipped, float norm) {
        this.skipped = skipped;
        this.norm = norm;
    }

    /** The current step is done: its outcome is now the previous step's, for its answers sent again. */
    void onAdvance() {
        previousSkipped = skipped;
        previousNorm = norm;
    }

    /** Sends again the answers workers asked for: the previous step's first, then the current one's. */
    int resendDue() {
        int work = 0;
        while (resends.anyDue()) {
            boolean current = resends.nextDue(false) < 0;
            int chunk = resends.nextDue(current);
            if (!send(current, chunk, resends.nextResend(current, chunk))) {
                return work;
            }
            counters.answerResent();
            work++;
        }
        return work;
    }

    /**
     * One answer frame of a chunk of the current step or of the one just finished; false when back-pressured (the
     * send deadline then runs). {@code resend} 0 is the first copy: a 16-bit average is then rounded (with the
     * error feedback) into the slice's encoded copy and sealed from there; a copy sent again is sealed from the
     * same values with its resend count in the nonce.
     */
    boolean send(boolean current, int chunk, int resend) {
        int shard = aggregator.shard();
        int start = layout.chunkStart(shard, chunk);
        short type = optimizer == null ? FrameHeader.TYPE_AVERAGE : FrameHeader.TYPE_PARAMS;
        boolean skip = optimizer != null && (current ? skipped : previousSkipped);
        int length = skip ? 0 : layout.chunkLength(shard, chunk);
        WireFormat format = type == FrameHeader.TYPE_AVERAGE ? aggregator.wire() : WireFormat.FP32;
        long step = current ? aggregator.step() : aggregator.step() - 1;
        DirectBuffer values = optimizer != null ? optimizer.params()
            : current ? aggregator.values() : aggregator.previousValues();
        long samples = current ? aggregator.totalSamples() : aggregator.previousSamples();
        float loss = current ? aggregator.meanLoss() : aggregator.previousLoss();
        long result = downstream.tryClaim(GradientFrame.frameLength(length, format));
        if (result < 0) {
            return false;
        }
        var claim = downstream.claim;
        int index = claim.offset();
        int from = (start - layout.shardStart(shard)) * Float.BYTES;
        try {
            out.wrapForWrite(claim.buffer(), index, claim.length())
                .header(type, jobId, step, GradientFrame.SERVER_RANK, shard, chunk, aggregator.chunkCount(),
                    (int) samples, loss, start, length)
                .norm(optimizer == null ? 0f : current ? norm : previousNorm)
                .flags(skip ? FrameHeader.FLAG_SKIPPED : 0).encoding(format).resend(resend);
            long nonceStep = FrameHeader.nonceStep(step, resend);
            if (format.rounds()) {
                int at = (start - layout.shardStart(shard)) * format.bytesPerValue();
                if (resend == 0) {
                    HalfCodec.encode(format, values, from, residual, from, encoded, at, length);
                }
                sealer.seal(claim.buffer(), index, GradientFrame.HEADER_LENGTH, encoded, at,
                    length * format.bytesPerValue(), nonceStep, start);
            } else {
                sealer.seal(claim.buffer(), index, GradientFrame.HEADER_LENGTH, values, from, length * Float.BYTES,
                    nonceStep, start);
            }
        } catch (RuntimeException e) {
            claim.abort(); // never leave a claim open: it would block the publication
            throw new AgentTerminationException(e);
        }
        claim.commit();
        resends.onAnswerSent(current, chunk, resend, result);
        return true;
    }
}
