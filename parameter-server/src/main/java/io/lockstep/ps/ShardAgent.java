package io.lockstep.ps;

import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.FragmentHandler;
import org.agrona.concurrent.Agent;
import org.agrona.concurrent.AgentTerminationException;

import java.util.concurrent.TimeUnit;

/**
 * Duty cycle of one parameter-server shard: collect the current step's chunks from the
 * upstream subscription and publish each chunk's average downstream as soon as it is ready
 * (resuming on the next cycle when back-pressured); once all are out, move to the next step.
 * Averages are sealed from the shard's sum into Aeron's claim ({@link FrameCipher}). JOIN frames on
 * the same channel go to the {@link Destinations} of the averages publication.
 *
 * <p>Both waits have the job's stall budget as deadline: once a step's first gradient frame is
 * in, every rank's must be within the budget, and a ready average must be taken by the workers'
 * receivers within it. Past either, the shard stops with an {@link AgentTerminationException}
 * naming shard, step and the ranks it waited for (the {@link ParameterServer#failure()}). The time
 * between steps is not the server's to judge: workers may validate or checkpoint there, and their
 * own deadlines cover their waits.
 */
final class ShardAgent implements Agent {
    private static final int FRAGMENT_LIMIT = 64;

    private final ShardAggregator aggregator;
    private final Subscription upstream;
    private final Publication downstream;
    private final ShardLayout layout;
    private final long jobId;
    private final StepListener listener;
    private final long timeoutNs;
    private final DropCounters drops;
    private final FrameCipher sealer;
    private final BufferClaim claim = new BufferClaim();
    private final GradientFrame out = new GradientFrame();
    private final FragmentHandler onFragment;

    private int sent; // ready chunks already published this step
    private boolean started; // a frame of the current step is in: its deadline runs
    private long startedNs;
    private boolean blocked; // the downstream publication refused a claim: the send deadline runs
    private long blockedNs;
    private long blockedResult;

    ShardAgent(ShardAggregator aggregator, Subscription upstream, Publication downstream, Destinations destinations,
               ShardLayout layout, long jobId, JobSecret secret, long timeoutMillis, DropCounters drops,
               StepListener listener) {
        this.aggregator = aggregator;
        this.upstream = upstream;
        this.downstream = downstream;
        this.layout = layout;
        this.jobId = jobId;
        this.listener = listener;
        this.timeoutNs = TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        this.drops = drops;
        this.sealer = new FrameCipher(secret, jobId, FrameHeader.TYPE_AVERAGE, GradientFrame.SERVER_RANK,
            new FrameCipher.Scratch());
        this.onFragment = Destinations.router(destinations, drops, aggregator::onFrame);
    }

    @Override
    public int doWork() {
        int work = aggregator.isComplete() ? 0 : upstream.poll(onFragment, FRAGMENT_LIMIT);
        if (!started && aggregator.isStarted()) {
            started = true;
            startedNs = System.nanoTime();
        }
        work += sendReadyAverages();
        if (started) { // every cycle: a flood of junk frames must not postpone it
            checkDeadlines();
        }
        return work;
    }

    private void checkDeadlines() {
        long now = System.nanoTime();
        if (!aggregator.isComplete() && now - startedNs > timeoutNs) {
            throw new AgentTerminationException("parameter-server shard " + aggregator.shard() + " step "
                + aggregator.step() + ": no gradient from rank(s) " + aggregator.missingRanks() + " within "
                + TimeUnit.NANOSECONDS.toMillis(timeoutNs) + " ms");
        }
        if (blocked && now - blockedNs > timeoutNs) {
            throw new AgentTerminationException("parameter-server shard " + aggregator.shard() + " step "
                + aggregator.step() + ": the workers took no averages within "
                + TimeUnit.NANOSECONDS.toMillis(timeoutNs) + " ms ("
                + (blockedResult == Publication.NOT_CONNECTED ? "no receiver connected" : "back-pressure") + ")");
        }
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
                    throw new AgentTerminationException("parameter-server shard " + shard
                        + " downstream publication unusable: " + result);
                }
                if (!blocked) {
                    blocked = true;
                    blockedNs = System.nanoTime();
                }
                blockedResult = result;
                return work; // back-pressured or no subscriber yet: retry on the next duty cycle
            }
            blocked = false;
            int index = claim.offset();
            int start = layout.chunkStart(shard, chunk);
            try {
                out.wrapForWrite(claim.buffer(), index, claim.length())
                    .header(FrameHeader.TYPE_AVERAGE, jobId, aggregator.step(), GradientFrame.SERVER_RANK, shard, chunk,
                        chunks, (int) aggregator.totalSamples(), aggregator.meanLoss(), start, length);
                sealer.seal(claim.buffer(), index, GradientFrame.HEADER_LENGTH, aggregator.values(),
                    chunk * layout.chunkValues() * Float.BYTES, length * Float.BYTES, aggregator.step(), start);
            } catch (RuntimeException e) {
                claim.abort(); // never leave a claim open: it would block the publication
                throw new AgentTerminationException(e);
            }
            claim.commit();
            sent++;
            work++;
        }
        if (sent == chunks) {
            listener.onStep(aggregator.step(), aggregator.totalSamples(), aggregator.meanLoss(), System.nanoTime());
            aggregator.advance();
            sent = 0;
            started = false;
        }
        return work;
    }

    @Override
    public String roleName() {
        return "lockstep-ps-shard-" + aggregator.shard();
    }
}
