package io.lockstep.ps;

import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.FragmentHandler;
import org.agrona.concurrent.Agent;

/**
 * Duty cycle of one parameter-server shard: collect the current step's chunks from the
 * upstream subscription and publish each chunk's average downstream as soon as it is ready
 * (resuming on the next cycle when back-pressured); once all are out, move to the next step.
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

    private int sent; // ready chunks already published this step

    ShardAgent(ShardAggregator aggregator, Subscription upstream, Publication downstream,
               ShardLayout layout, long jobId, StepListener listener) {
        this.aggregator = aggregator;
        this.upstream = upstream;
        this.downstream = downstream;
        this.layout = layout;
        this.jobId = jobId;
        this.listener = listener;
        this.onFragment = (buffer, offset, length, header) -> aggregator.onFrame(buffer, offset, length);
    }

    @Override
    public int doWork() {
        int work = aggregator.isComplete() ? 0 : upstream.poll(onFragment, FRAGMENT_LIMIT);
        return work + sendReadyAverages();
    }

    private int sendReadyAverages() {
        int shard = aggregator.shard();
        int chunks = aggregator.chunkCount();
        int work = 0;
        while (sent < aggregator.readyCount()) {
            int chunk = aggregator.readyChunk(sent);
            int length = layout.chunkLength(shard, chunk);
            long result = downstream.tryClaim(GradientFrame.frameLength(length), claim);
            if (result < 0) {
                if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED) {
                    throw new IllegalStateException("shard " + shard + " downstream publication unusable: " + result);
                }
                return work; // back-pressured or no subscriber yet: retry on the next duty cycle
            }
            int index = claim.offset();
            out.wrapForWrite(claim.buffer(), index, claim.length())
                .header(jobId, aggregator.step(), GradientFrame.SERVER_RANK, shard, chunk, chunks,
                    (int) aggregator.totalSamples(), aggregator.meanLoss(), layout.chunkStart(shard, chunk), length);
            claim.buffer().putBytes(index + GradientFrame.HEADER_LENGTH, aggregator.values(),
                chunk * layout.chunkValues() * Float.BYTES, length * Float.BYTES);
            claim.commit();
            sent++;
            work++;
        }
        if (sent == chunks) {
            listener.onStep(aggregator.step(), aggregator.totalSamples(), aggregator.meanLoss(), System.nanoTime());
            aggregator.advance();
            sent = 0;
        }
        return work;
    }

    @Override
    public String roleName() {
        return "lockstep-ps-shard-" + aggregator.shard();
    }
}
