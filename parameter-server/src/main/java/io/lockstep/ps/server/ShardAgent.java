package io.lockstep.ps.server;

import io.aeron.Publication;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.FragmentHandler;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.optim.SliceOptimizer;
import io.lockstep.ps.session.BoundSubscriptions;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.HalfCodec;
import io.lockstep.ps.wire.JobSecret;
import io.lockstep.ps.wire.WireFormat;
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
 * <p>Frames lost or forged over on the wire are asked for again, both ways ({@link ShardResends}): the shard asks a
 * rank for its missing chunks and sends again the answers a worker asks for, of this step or the last; when a
 * worker's asks show it reads the answers out of step, the answers start over on a new session ({@link #restart}).
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
    private Publication downstream;
    private int generation; // of the answers' session ({@link ExchangeSpec#sessionId(int, int, int)})
    private final java.util.function.IntFunction<Publication> newDownstream;
    private final Destinations destinations;
    private final ShardLayout layout;
    private final long jobId;
    private final StepListener listener;
    private final long timeoutNs;
    private final DropCounters drops;
    private final FrameCipher sealer;
    private final ClaimGate gate;
    private final BufferClaim claim;
    private final GradientFrame out = new GradientFrame();
    private final FragmentHandler onFragment;
    private final SliceOptimizer optimizer; // null: averages go back, workers apply the optimizer
    private final NormReduction reduction;
    private final FrameCipher stateSealer;
    private final FrameCipher[] stateRequests; // by rank
    private final GradientFrame request = new GradientFrame();
    private final WaitingBoard board;
    private final UnsafeBuffer residual; // 16-bit averages: what rounding dropped, by value of the slice
    private final UnsafeBuffer encoded;  // 16-bit averages: the slice as last rounded, sealed from here (and resent)
    private final ShardResends resends;
    private final ResendCounters resendCounters;
    private final FrameCipher askSealer;         // this shard's asks to the ranks
    private final FrameCipher[] asksFromRank;    // the ranks' asks to this shard
    private final GradientFrame ask = new GradientFrame();
    private final UnsafeBuffer askPayload = new UnsafeBuffer(BufferUtil.allocateDirectAligned(Long.BYTES, 8));
    private long nowNs;
    private long publishedStep = -1;
    private int publishedMissing = -1;

    private boolean posted;  // server optimizer: this step's sum of squares is in the reduction
    private boolean applied; // server optimizer: the step is decided (applied or skipped): parameters go out
    private boolean skipped;
    private float norm;
    private boolean previousSkipped; // server optimizer: the step just finished, for answers sent again
    private float previousNorm;
    private long stateStep = -1;   // the step whose state goes out, or went out last (one answer per step)
    private int stateSent = -1;    // state chunks sent; -1: no request pending
    private org.agrona.concurrent.UnsafeBuffer stateSnapshot; // the state being sent, copied out at the request

    private int sent; // ready chunks already published this step
    private boolean started; // a frame of the current step is in: its deadline runs
    private long startedNs;

    ShardAgent(ShardAggregator aggregator, BoundSubscriptions upstream, Publication downstream, Destinations destinations,
               ShardLayout layout, long jobId, JobSecret secret, long timeoutMillis, DropCounters drops,
               StepListener listener, SliceOptimizer optimizer, NormReduction reduction, int workers,
               WaitingBoard board, ResendCounters resendCounters,
               java.util.function.IntFunction<Publication> newDownstream) {
        this.newDownstream = newDownstream;
        this.destinations = destinations;
        this.aggregator = aggregator;
        this.upstream = upstream;
        this.downstream = downstream;
        this.gate = new ClaimGate("parameter-server shard " + aggregator.shard());
        this.claim = gate.claim;
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
        this.onFragment = Destinations.router(destinations, drops, this::onUpstream);
        boolean rounds = optimizer == null && aggregator.wire().rounds();
        int shard = aggregator.shard();
        this.residual = rounds ? new UnsafeBuffer(BufferUtil.allocateDirectAligned(
            Math.max(1, layout.shardLength(shard)) * Float.BYTES, 64)) : null;
        this.encoded = rounds ? new UnsafeBuffer(BufferUtil.allocateDirectAligned(
            Math.max(1, layout.shardLength(shard)) * aggregator.wire().bytesPerValue(), 64)) : null;
        this.resends = new ShardResends(workers, aggregator.chunkCount());
        this.resendCounters = resendCounters;
        this.askSealer = new FrameCipher(secret, jobId, FrameHeader.TYPE_RESEND, GradientFrame.askSender(shard),
            new FrameCipher.Scratch());
        this.asksFromRank = FrameCipher.perRank(secret, jobId, FrameHeader.TYPE_RESEND, workers,
            new FrameCipher.Scratch());
        this.board = board;
        publishWaiting();
    }

    /**
     * A frame read from rank {@link BoundSubscriptions#sender()}'s session: an ask for answers again, a state
     * request (server optimizer), or a gradient for the aggregator. A gradient naming another rank than the session's
     * is malformed; a bad frame on a rank's session makes the shard ask that rank again ({@link ShardResends}).
     */
    private void onUpstream(DirectBuffer buffer, int offset, int length) {
        int sender = upstream.sender();
        int type = FrameHeader.type(buffer, offset, length);
        if (type == FrameHeader.TYPE_RESEND) {
            onAsk(buffer, offset, length, sender);
            return;
        }
        if (type == FrameHeader.TYPE_STATE_REQUEST && optimizer != null) {
            onStateRequest(buffer, offset, length);
            return;
        }
        if (type == FrameHeader.TYPE_GRADIENT && length >= GradientFrame.HEADER_LENGTH
            && request.wrap(buffer, offset, length).rank() != sender) {
            drops.recordMalformed();
            resends.onBadFrame(sender, false);
            return;
        }
        switch (aggregator.onFrame(buffer, offset, length)) {
            case ACCEPTED, CHUNK_READY, COMPLETED -> {
                resends.onChunk(sender, nowNs);
                upstream.genuine();
            }
            case UNAUTHENTICATED -> resends.onBadFrame(sender, true);
            case MALFORMED, STALE_STEP -> resends.onBadFrame(sender, false); // a replay may have taken a frame's place
            default -> { } // a duplicate: a resend of what is in
        }
    }

    /**
     * A rank asks for this shard's answers of the current step, or of the one just finished, again: the chunks in
     * its range whose frames ended below its read position (the payload) go out again on the next duty cycles.
     */
    private void onAsk(DirectBuffer buffer, int offset, int length, int sender) {
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
        DirectBuffer plain = asksFromRank[sender].open(buffer, offset, GradientFrame.HEADER_LENGTH, Long.BYTES, step,
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
        if (f.samples() != generation) {
            return; // about a session since abandoned: the restart sent everything again
        }
        long readPosition = plain.getLong(0, FrameHeader.ORDER);
        if (resends.looksBroken(sender, readPosition, downstream.position(), nowNs)) {
            restart();
        }
        resends.markDue(step == current, f.chunk(), f.chunkCount(), readPosition);
        resendCounters.askTaken();
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
        nowNs = System.nanoTime();
        // polled in every state: asks for answers come at any time; a gradient of the next step cannot come before
        // every answer of this one is out, and then the step has advanced in the same cycle
        int work = upstream.poll(onFragment, FRAGMENT_LIMIT);
        if (!started && aggregator.isStarted()) {
            started = true;
            startedNs = nowNs;
            resends.onStepStarted(nowNs);
        }
        if (started && !aggregator.isComplete()) {
            work += askForMissing();
        }
        work += resendDue();
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

    /** Asks every rank whose chunks are not all in, and that is due ({@link ShardResends}), for them again. */
    private int askForMissing() {
        int work = 0;
        for (int r = 0, n = aggregator.workers(); r < n; r++) {
            if (!aggregator.hasAll(r) && resends.shouldAsk(r, nowNs) && sendAsk(r)) {
                work++;
            }
        }
        return work;
    }

    /**
     * One ask to {@code rank} for its first run of missing chunks, with how far its stream was read (a later run
     * is asked for by a later ask).
     */
    private boolean sendAsk(int rank) {
        if (!claim(GradientFrame.frameLength(2))) {
            return false;
        }
        int first = aggregator.lowestMissingFrom(rank);
        int end = first;
        while (end < aggregator.chunkCount() && !aggregator.has(rank, end)) {
            end++; // the first run of missing chunks: the rank sends only those it has passed, never one that is in
        }
        int seq = resends.asked(rank, nowNs);
        int index = claim.offset();
        try {
            askPayload.putLong(0, upstream.position(rank), FrameHeader.ORDER);
            out.wrapForWrite(claim.buffer(), index, claim.length())
                .header(FrameHeader.TYPE_RESEND, jobId, aggregator.step(), rank, aggregator.shard(), first,
                    end - first, upstream.generation(rank), 0f, seq, 2);
            askSealer.seal(claim.buffer(), index, GradientFrame.HEADER_LENGTH, askPayload, 0, Long.BYTES,
                aggregator.step(), seq);
        } catch (RuntimeException e) {
            claim.abort();
            throw new AgentTerminationException(e);
        }
        claim.commit();
        resendCounters.askSent();
        return true;
    }

    /** Sends again the answers workers asked for: the previous step's first, then the current one's. */
    private int resendDue() {
        int work = 0;
        while (resends.anyDue()) {
            boolean current = resends.nextDue(false) < 0;
            int chunk = resends.nextDue(current);
            if (!sendAnswer(current, chunk, resends.nextResend(current, chunk))) {
                return work;
            }
            resendCounters.answerResent();
            work++;
        }
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
                + TimeUnit.NANOSECONDS.toMillis(timeoutNs) + " ms" + forgeries());
        }
        if (posted && !applied && now - startedNs > timeoutNs) {
            throw new AgentTerminationException("parameter-server shard " + aggregator.shard() + " step "
                + aggregator.step() + ": shard(s) " + reduction.missing(aggregator.step())
                + " did not finish the step within " + TimeUnit.NANOSECONDS.toMillis(timeoutNs) + " ms");
        }
        if (gate.blockedLongerThan(now, timeoutNs)) {
            throw new AgentTerminationException("parameter-server shard " + aggregator.shard() + " step "
                + aggregator.step() + ": the workers took no averages within "
                + TimeUnit.NANOSECONDS.toMillis(timeoutNs) + " ms (" + gate.refusal() + ")");
        }
    }

    /**
     * "; rank 1's gradient failed authentication 40 times: forged or corrupted on the wire" for each missing rank
     * whose frames failed this step, so a deadline caused by forged frames does not read like a slow rank.
     */
    private String forgeries() {
        StringBuilder sb = new StringBuilder();
        for (int r = 0, n = aggregator.workers(); r < n; r++) {
            int failed = resends.authFailures(r);
            if (failed > 0 && !aggregator.hasAll(r)) {
                sb.append("; rank ").append(r).append("'s gradient failed authentication ").append(failed)
                    .append(failed == 1 ? " time" : " times").append(": forged or corrupted on the wire");
            }
        }
        return sb.toString();
    }

    private int sendReadyAverages() {
        int work = 0;
        while (sent < aggregator.readyCount()) {
            int chunk = aggregator.readyChunk(sent);
            if (!sendAnswer(true, chunk, 0)) {
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
        while (sent < aggregator.chunkCount()) {
            if (!sendAnswer(true, sent, 0)) {
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
        resends.onAdvance();
        previousSkipped = skipped;
        previousNorm = norm;
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
     * One answer frame (an average, or the parameters with the optimizer on the server) of a chunk of the current
     * step or of the one just finished, sealed into a claim of the downstream publication; false when
     * back-pressured (the send deadline then runs). {@code resend} 0 is the first copy: a 16-bit average is then
     * rounded (with the shard's error feedback) into the slice's encoded copy and sealed from there; a copy sent
     * again is sealed from the same values with its resend count in the nonce.
     */
    private boolean sendAnswer(boolean current, int chunk, int resend) {
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
        long result = tryClaim(GradientFrame.frameLength(length, format));
        if (result < 0) {
            return false;
        }
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

    /**
     * Starts the answers over on the next generation's session ({@link BoundSubscriptions}): a new publication on the
     * same channel endpoint (so with the same destinations), then the old one closed; everything sent on the old one
     * goes out again.
     */
    private void restart() {
        Publication fresh = newDownstream.apply(generation + 1);
        Publication old = downstream;
        downstream = fresh;
        generation++;
        if (destinations != null) {
            destinations.publication(fresh);
        }
        old.close();
        resends.onRestart();
        resendCounters.restarted();
    }

    /** The publication the answers go out on now (tests: what an on-path attacker sees). */
    Publication downstream() {
        return downstream;
    }

    @Override
    public void onClose() {
        downstream.close();
    }

    /** Claims {@code frameLength} bytes of the downstream publication, or notes the refusal for the deadline. */
    private boolean claim(int frameLength) {
        return tryClaim(frameLength) >= 0;
    }

    /** As {@link #claim}, returning the stream position after the claimed frame, or the refusal (negative). */
    private long tryClaim(int frameLength) {
        return gate.tryClaim(downstream, frameLength);
    }

    @Override
    public String roleName() {
        return "lockstep-ps-shard-" + aggregator.shard();
    }
}
