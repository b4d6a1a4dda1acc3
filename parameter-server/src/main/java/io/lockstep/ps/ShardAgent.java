package io.lockstep.ps;

import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.FragmentHandler;
import org.agrona.concurrent.Agent;

/**
 * Duty cycle of one parameter-server shard: collect the current step's chunks from the
 * upstream subscription; once complete, publish the averaged chunks downstream (resuming
 * across duty cycles when back-pressured), then move to the next step.
 */
final class ShardAgent implements Agent {
    private static final int FRAGMENT_LIMIT = 64;

    private final ShardAggregator aggregator;
    private final Subscription upstream;
    private final Publication downstream;
    private final ShardLayout layout;
    private final long jobId;
    private final StepListener listener;
    private final BufferClaim claim = new BufferClaim();
    private final GradientFrame out = new GradientFrame();
    private final FragmentHandler onFragment;

    private int nextChunkToSend = -1;

    ShardAgent(ShardAggregator aggregator, Subscription upstream, Publication downstream,
               ShardLayout layout, long jobId, StepListener listener) {
        this.aggregator = aggregator;
        this.upstream = upstream;
        this.downstream = downstream;
        this.layout = layout;
        this.jobId = jobId;
        this.listener = listener;
        this.onFragment = (buffer, offset, length, header) -> {
            if (aggregator.onFrame(buffer, offset, length) == ShardAggregator.Outcome.COMPLETED) {
                nextChunkToSend = 0;
            }
        };
    }

    @Override
    public int doWork() {
        if (nextChunkToSend >= 0) {
            return sendAverages();
        }
        int work = upstream.poll(onFragment, FRAGMENT_LIMIT);
        if (nextChunkToSend >= 0) {
            work += sendAverages();
        }
        return work;
    }

    private int sendAverages() {
        int shard = aggregator.shard();
        int chunks = aggregator.chunkCount();
        int sent = 0;
        while (nextChunkToSend < chunks) {
            int chunk = nextChunkToSend;
            int length = layout.chunkLength(shard, chunk);
            long result = downstream.tryClaim(GradientFrame.frameLength(length), claim);
            if (result < 0) {
                if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED) {
                    throw new IllegalStateException("shard " + shard + " downstream publication unusable: " + result);
                }
                return sent; // back-pressured or no subscriber yet: retry on the next duty cycle
            }
            int index = claim.offset();
            out.wrapForWrite(claim.buffer(), index, claim.length())
                .header(jobId, aggregator.step(), GradientFrame.SERVER_RANK, shard, chunk, chunks,
                    (int) aggregator.totalSamples(), aggregator.meanLoss(), layout.chunkStart(shard, chunk), length);
            claim.buffer().putBytes(index + GradientFrame.HEADER_LENGTH, aggregator.values(),
                chunk * layout.chunkValues() * Float.BYTES, length * Float.BYTES);
            claim.commit();
            nextChunkToSend++;
            sent++;
        }
        listener.onStep(aggregator.step(), aggregator.totalSamples(), aggregator.meanLoss(), System.nanoTime());
        aggregator.advance();
        nextChunkToSend = -1;
        return sent;
    }

    @Override
    public String roleName() {
        return "lockstep-ps-shard-" + aggregator.shard();
    }
}
