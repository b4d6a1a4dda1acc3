package io.lockstep.ps;

import io.aeron.Publication;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.FragmentHandler;
import io.lockstep.ps.optim.SliceOptimizer;
import org.agrona.BufferUtil;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.Agent;
import org.agrona.concurrent.AgentTerminationException;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.concurrent.TimeUnit;

/**
 * Duty cycle of one parameter-server shard: collect the current step's chunks from the
 * upstream subscription and publish each chunk's average downstream as soon as it is ready
 * (resuming on the next cycle when back-pressured); once all are out, move to the next step.
 * Averages are sealed from the shard's sum into Aeron's claim ({@link FrameCipher}). JOIN frames on
 * the same channel go to the {@link Destinations} of the averages publication.
 *
 * <p>With the optimizer on the server ({@link SliceOptimizer} given), a complete step is not sent back as
 * averages: the shard posts the sum of squares of its averaged slice to the {@link NormReduction}, waits
 * for every other shard's, and then, if the total is finite, applies the optimizer step to its slice
 * (clipped by the global norm when so configured) and sends the slice's new parameters
 * ({@link FrameHeader#TYPE_PARAMS}); if not, header-only PARAMS frames flagged
 * {@link FrameHeader#FLAG_SKIPPED}. Between steps it answers a worker's request for its optimizer state
 * (a checkpoint) with {@link FrameHeader#TYPE_STATE} frames.
 *
 * <p>With a 16-bit wire ({@link WireFormat}) and the optimizer on the workers, averages go out rounded to the
 * job's format with error feedback: the shard keeps the rounding residual of each value it sent (an off-heap
 * vector over its slice, allocated once) and adds it to the next step's average before rounding. Parameters
 * and optimizer state always go out as float32.
 *
 * <p>What the shard waits for (its step and the ranks still missing) is published to the server's
 * {@link WaitingBoard} whenever it changes, for {@link ParameterServer#waitingFor()} on other threads.
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
    private final BoundSubscriptions upstream;
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
    private final SliceOptimizer optimizer; // null: averages go back, workers apply the optimizer
    private final NormReduction reduction;
    private final FrameCipher stateSealer;
    private final FrameCipher[] stateRequests; // by rank
    private final GradientFrame request = new GradientFrame();
    private final WaitingBoard board;
    private final UnsafeBuffer residual; // 16-bit averages: what rounding dropped, by value of the slice
    private final UnsafeBuffer encoded;  // 16-bit averages: one chunk, rounded, before it is sealed
    private long publishedStep = -1;
    private int publishedMissing = -1;

    private boolean posted;  // server optimizer: this step's sum of squares is in the reduction
    private boolean applied; // server optimizer: the step is decided (applied or skipped): parameters go out
    private boolean skipped;
    private float norm;
    private long stateStep = -1;   // the step whose state goes out, or went out last (one answer per step)
    private int stateSent = -1;    // state chunks sent; -1: no request pending
    private org.agrona.concurrent.UnsafeBuffer stateSnapshot; // the state being sent, copied out at the request

    private int sent; // ready chunks already published this step
    private boolean started; // a frame of the current step is in: its deadline runs
    private long startedNs;
    private boolean blocked; // the downstream publication refused a claim: the send deadline runs
    private long blockedNs;
    private long blockedResult;

    ShardAgent(ShardAggregator aggregator, BoundSubscriptions upstream, Publication downstream, Destinations destinations,
               ShardLayout layout, long jobId, JobSecret secret, long timeoutMillis, DropCounters drops,
               StepListener listener, SliceOptimizer optimizer, NormReduction reduction, int workers,
               WaitingBoard board) {
        this.aggregator = aggregator;
        this.upstream = upstream;
        this.downstream = downstream;
        this.layout = layout;
        this.jobId = jobId;
        this.listener = listener;
        this.timeoutNs = TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        this.drops = drops;
        this.sealer = new FrameCipher(secret, jobId, optimizer == null ? FrameHeader.TYPE_AVERAGE
            : FrameHeader.TYPE_PARAMS, GradientFrame.SERVER_RANK, new FrameCipher.Scratch());
        this.optimizer = optimizer;
        this.reduction = reduction;
        this.stateSealer = optimizer == null ? null : new FrameCipher(secret, jobId, FrameHeader.TYPE_STATE,
            GradientFrame.SERVER_RANK, new FrameCipher.Scratch());
        this.stateRequests = optimizer == null ? null : FrameCipher.perRank(secret, jobId,
            FrameHeader.TYPE_STATE_REQUEST, workers, new FrameCipher.Scratch());
        this.onFragment = Destinations.router(destinations, drops, optimizer == null ? aggregator::onFrame
            : this::onUpstream);
        boolean rounds = optimizer == null && aggregator.wire().rounds();
        int shard = aggregator.shard();
        this.residual = rounds ? new UnsafeBuffer(BufferUtil.allocateDirectAligned(
            Math.max(1, layout.shardLength(shard)) * Float.BYTES, 64)) : null;
        this.encoded = rounds ? new UnsafeBuffer(BufferUtil.allocateDirectAligned(
            Math.max(1, layout.chunkValues()) * aggregator.wire().bytesPerValue(), 64)) : null;
        this.board = board;
        publishWaiting();
    }

    /** Server optimizer: a state request is the agent's to answer, anything else the aggregator's. */
    private void onUpstream(DirectBuffer buffer, int offset, int length) {
        if (FrameHeader.type(buffer, offset, length) == FrameHeader.TYPE_STATE_REQUEST) {
            onStateRequest(buffer, offset, length);
        } else {
            aggregator.onFrame(buffer, offset, length);
        }
    }

    /**
     * Accepts one authenticated request per step, for the step last completed: the state then is exactly
     * the state after that step (the next cannot complete before the asking worker sends its gradient).
     */
    private void onStateRequest(DirectBuffer buffer, int offset, int length) {
        GradientFrame f = request.wrap(buffer, offset, length);
        long last = aggregator.step() - 1;
        if (!f.isWellFormed() || f.encoding() != WireFormat.FP32.code() || f.jobId() != jobId || f.length() != 0 || f.shard() != aggregator.shard()
            || f.rank() < 0 || f.rank() >= stateRequests.length) {
            drops.recordMalformed();
            return;
        }
        if (f.step() != last || last <= stateStep) {
            drops.record(f.step() < last || last <= stateStep ? ShardAggregator.Outcome.STALE_STEP
                : ShardAggregator.Outcome.MALFORMED);
            return;
        }
        if (stateRequests[f.rank()].open(buffer, offset, GradientFrame.HEADER_LENGTH, 0, f.step(), f.shard()) == null) {
            drops.record(ShardAggregator.Outcome.UNAUTHENTICATED);
            return;
        }
        stateStep = last;
        stateSent = 0;
        stateSnapshot = optimizer.state(); // copied out once per request
    }

    @Override
    public int doWork() {
        int work = aggregator.isComplete() ? 0 : upstream.poll(onFragment, FRAGMENT_LIMIT);
        if (!started && aggregator.isStarted()) {
            started = true;
            startedNs = System.nanoTime();
        }
        work += optimizer == null ? sendReadyAverages() : applyAndSendParameters();
        if (stateSent >= 0) {
            work += sendState();
        }
        if (started) { // every cycle: a flood of junk frames must not postpone it
            checkDeadlines();
        }
        publishWaiting();
        return work;
    }

    /** Tells other threads what the shard waits for, when that changed (a rank's chunks all in, a new step). */
    private void publishWaiting() {
        long step = aggregator.step();
        int missing = aggregator.missingCount();
        if (step != publishedStep || missing != publishedMissing) {
            board.publish(aggregator.shard(), step, aggregator.missingMask(), missing);
            publishedStep = step;
            publishedMissing = missing;
        }
    }

    private void checkDeadlines() {
        long now = System.nanoTime();
        if (!aggregator.isComplete() && now - startedNs > timeoutNs) {
            throw new AgentTerminationException("parameter-server shard " + aggregator.shard() + " step "
                + aggregator.step() + ": no gradient from rank(s) " + aggregator.missingRanks() + " within "
                + TimeUnit.NANOSECONDS.toMillis(timeoutNs) + " ms");
        }
        if (posted && !applied && now - startedNs > timeoutNs) {
            throw new AgentTerminationException("parameter-server shard " + aggregator.shard() + " step "
                + aggregator.step() + ": shard(s) " + reduction.missing(aggregator.step())
                + " did not finish the step within " + TimeUnit.NANOSECONDS.toMillis(timeoutNs) + " ms");
        }
        if (blocked && now - blockedNs > timeoutNs) {
            throw new AgentTerminationException("parameter-server shard " + aggregator.shard() + " step "
                + aggregator.step() + ": the workers took no averages within "
                + TimeUnit.NANOSECONDS.toMillis(timeoutNs) + " ms ("
                + (blockedResult == Publication.NOT_CONNECTED ? "no receiver connected" : "back-pressure") + ")");
        }
    }

    private int sendReadyAverages() {
        int work = 0;
        while (sent < aggregator.readyCount()) {
            int chunk = aggregator.readyChunk(sent);
            if (!send(FrameHeader.TYPE_AVERAGE, chunk, aggregator.values(), (byte) 0, 0f)) {
                return work; // back-pressured or no subscriber yet: retry on the next duty cycle
            }
            sent++;
            work++;
        }
        if (sent == aggregator.chunkCount()) {
            finishStep();
        }
        return work;
    }

    /**
     * Server optimizer: once the step is averaged, joins the cross-shard reduction, applies the step to the
     * slice (or skips it, alike on every shard), and sends the new parameters chunk by chunk.
     */
    private int applyAndSendParameters() {
        if (!aggregator.isComplete()) {
            return 0;
        }
        long step = aggregator.step();
        if (!posted) {
            reduction.post(aggregator.shard(), step, optimizer.stage(aggregator.values()));
            posted = true;
        }
        if (!applied) {
            if (!reduction.complete(step)) {
                return 0;
            }
            double total = reduction.total();
            double globalNorm = Math.sqrt(total);
            skipped = !Double.isFinite(total) || !Float.isFinite(aggregator.meanLoss());
            norm = (float) globalNorm;
            if (!skipped) {
                optimizer.apply(step, optimizer.rule().clipScale(globalNorm));
            }
            applied = true;
        }
        int work = 0;
        byte flags = skipped ? FrameHeader.FLAG_SKIPPED : 0;
        while (sent < aggregator.chunkCount()) {
            if (!send(FrameHeader.TYPE_PARAMS, sent, optimizer.params(), flags, norm)) {
                return work;
            }
            sent++;
            work++;
        }
        finishStep();
        posted = false;
        applied = false;
        return work;
    }

    private void finishStep() {
        listener.onStep(aggregator.step(), aggregator.totalSamples(), aggregator.meanLoss(), System.nanoTime());
        aggregator.advance();
        sent = 0;
        started = false;
    }

    /** Sends the shard's optimizer state for the requested step: each state slot chunk by chunk. */
    private int sendState() {
        int chunks = aggregator.chunkCount();
        int total = optimizer.stateSlots() * chunks;
        int work = 0;
        while (stateSent < total) {
            if (!sendStateChunk(stateSent / chunks, stateSent % chunks)) {
                return work;
            }
            stateSent++;
            work++;
        }
        stateSent = -1;
        return work;
    }

    /**
     * One frame of {@code values}' chunk (indexed from the shard start), sealed into a claim of the
     * downstream publication; false when back-pressured (the send deadline then runs). Averages of a 16-bit
     * job are rounded (with the shard's error feedback) into a scratch chunk first and sealed from there.
     */
    private boolean send(short type, int chunk, DirectBuffer values, byte flags, float norm) {
        int shard = aggregator.shard();
        int start = layout.chunkStart(shard, chunk);
        int length = (flags & FrameHeader.FLAG_SKIPPED) != 0 ? 0 : layout.chunkLength(shard, chunk);
        WireFormat format = type == FrameHeader.TYPE_AVERAGE ? aggregator.wire() : WireFormat.FP32;
        if (!claim(GradientFrame.frameLength(length, format))) {
            return false;
        }
        int index = claim.offset();
        int from = (start - layout.shardStart(shard)) * Float.BYTES;
        try {
            out.wrapForWrite(claim.buffer(), index, claim.length())
                .header(type, jobId, aggregator.step(), GradientFrame.SERVER_RANK, shard, chunk,
                    aggregator.chunkCount(), (int) aggregator.totalSamples(), aggregator.meanLoss(), start, length)
                .norm(norm).flags(flags).encoding(format);
            if (format.rounds()) {
                HalfCodec.encode(format, values, from, residual, from, encoded, 0, length);
                sealer.seal(claim.buffer(), index, GradientFrame.HEADER_LENGTH, encoded, 0,
                    length * format.bytesPerValue(), aggregator.step(), start);
            } else {
                sealer.seal(claim.buffer(), index, GradientFrame.HEADER_LENGTH, values, from, length * Float.BYTES,
                    aggregator.step(), start);
            }
        } catch (RuntimeException e) {
            claim.abort(); // never leave a claim open: it would block the publication
            throw new AgentTerminationException(e);
        }
        claim.commit();
        return true;
    }

    private boolean sendStateChunk(int slot, int chunk) {
        int shard = aggregator.shard();
        int chunks = aggregator.chunkCount();
        int length = layout.chunkLength(shard, chunk);
        int inShard = layout.chunkStart(shard, chunk) - layout.shardStart(shard);
        int offset = Math.toIntExact((long) slot * layout.paramCount() + layout.chunkStart(shard, chunk));
        if (!claim(GradientFrame.frameLength(length))) {
            return false;
        }
        int index = claim.offset();
        try {
            out.wrapForWrite(claim.buffer(), index, claim.length())
                .header(FrameHeader.TYPE_STATE, jobId, stateStep, GradientFrame.SERVER_RANK, shard,
                    slot * chunks + chunk, optimizer.stateSlots() * chunks, 0, 0f, offset, length);
            stateSealer.seal(claim.buffer(), index, GradientFrame.HEADER_LENGTH, stateSnapshot,
                (slot * layout.shardLength(shard) + inShard) * Float.BYTES, length * Float.BYTES, stateStep, offset);
        } catch (RuntimeException e) {
            claim.abort();
            throw new AgentTerminationException(e);
        }
        claim.commit();
        return true;
    }

    /** Claims {@code frameLength} bytes of the downstream publication, or notes the refusal for the deadline. */
    private boolean claim(int frameLength) {
        long result = downstream.tryClaim(frameLength, claim);
        if (result < 0) {
            if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED) {
                throw new AgentTerminationException("parameter-server shard " + aggregator.shard()
                    + " downstream publication unusable: " + result);
            }
            if (!blocked) {
                blocked = true;
                blockedNs = System.nanoTime();
            }
            blockedResult = result;
            return false;
        }
        blocked = false;
        return true;
    }

    @Override
    public String roleName() {
        return "lockstep-ps-shard-" + aggregator.shard();
    }
}
