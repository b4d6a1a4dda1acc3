package io.lockstep.ps.server;

import io.aeron.Publication;
import io.aeron.logbuffer.FragmentHandler;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.optim.SliceOptimizer;
import io.lockstep.ps.session.BoundSubscriptions;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.JobSecret;
import org.agrona.DirectBuffer;
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
 * <p>With the optimizer on the server ({@link SliceOptimizer} given), a complete step is not sent back as
 * averages: the shard posts the sum of squares of its averaged slice to the {@link NormReduction}, waits
 * for every other shard's, and then, if the total is finite, applies the optimizer step to its slice
 * (clipped by the global norm when so configured) and sends the slice's new parameters
 * ({@link FrameHeader#TYPE_PARAMS}); if not, header-only PARAMS frames flagged
 * {@link FrameHeader#FLAG_SKIPPED}. Between steps it answers a worker's request for its optimizer state
 * (a checkpoint) with {@link FrameHeader#TYPE_STATE} frames.
 *
 * <p>The agent polls and decides; what goes out is written by its parts: the answers ({@link ShardAnswers}, 16-bit
 * averages with error feedback included), the optimizer state ({@link StateAnswers}), the asks both ways
 * ({@link ShardAsks}), all on the {@link ShardDownstream}.
 *
 * <p>Frames lost or forged over on the wire are asked for again, both ways ({@link ShardResends}): the shard asks a
 * rank for its missing chunks and sends again the answers a worker asks for, of this step or the last; when a
 * worker's asks show it reads the answers out of step, the answers start over on a new session ({@link ShardAsks}).
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
    private final ShardDownstream downstream;
    private final StepListener listener;
    private final long timeoutNs;
    private final DropCounters drops;
    private final FragmentHandler onFragment;
    private final SliceOptimizer optimizer; // null: averages go back, workers apply the optimizer
    private final NormReduction reduction;
    private final StateAnswers state; // null: the optimizer is on the workers
    private final GradientFrame request = new GradientFrame();
    private final WaitingBoard board;
    private final ShardResends resends;
    private final ShardAnswers answers;
    private final ShardAsks asks;
    private long nowNs;
    private long publishedStep = -1;
    private int publishedMissing = -1;

    private boolean posted;  // server optimizer: this step's sum of squares is in the reduction
    private boolean applied; // server optimizer: the step is decided (applied or skipped): parameters go out

    private int sent; // ready chunks already published this step
    private boolean started; // a frame of the current step is in: its deadline runs
    private long startedNs;

    ShardAgent(ShardAggregator aggregator, BoundSubscriptions upstream, Publication downstream, Destinations destinations,
               ShardLayout layout, long jobId, JobSecret secret, long timeoutMillis, DropCounters drops,
               StepListener listener, SliceOptimizer optimizer, NormReduction reduction, int workers,
               WaitingBoard board, ResendCounters resendCounters,
               java.util.function.IntFunction<Publication> newDownstream) {
        this.aggregator = aggregator;
        this.upstream = upstream;
        this.downstream = new ShardDownstream(downstream, destinations, newDownstream, aggregator.shard());
        this.listener = listener;
        this.timeoutNs = TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        this.drops = drops;
        this.optimizer = optimizer;
        this.reduction = reduction;
        this.state = optimizer == null ? null
            : new StateAnswers(aggregator, layout, optimizer, this.downstream, drops, jobId, secret, workers);
        this.onFragment = Destinations.router(destinations, drops, this::onUpstream);
        this.resends = new ShardResends(workers, aggregator.chunkCount());
        this.answers = new ShardAnswers(aggregator, layout, optimizer, this.downstream, resends, resendCounters, jobId,
            secret);
        this.asks = new ShardAsks(aggregator, upstream, this.downstream, resends, resendCounters, drops, jobId, secret,
            workers);
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
            asks.onAsk(buffer, offset, length, sender, nowNs);
            return;
        }
        if (type == FrameHeader.TYPE_STATE_REQUEST && state != null) {
            state.onRequest(buffer, offset, length);
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
            work += asks.askForMissing(nowNs);
        }
        work += answers.resendDue();
        work += optimizer == null ? sendReadyAverages() : applyAndSendParameters();
        if (state != null) {
            work += state.send();
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
                + TimeUnit.NANOSECONDS.toMillis(timeoutNs) + " ms" + forgeries());
        }
        if (posted && !applied && now - startedNs > timeoutNs) {
            throw new AgentTerminationException("parameter-server shard " + aggregator.shard() + " step "
                + aggregator.step() + ": shard(s) " + reduction.missing(aggregator.step())
                + " did not finish the step within " + TimeUnit.NANOSECONDS.toMillis(timeoutNs) + " ms");
        }
        if (downstream.gate.blockedLongerThan(now, timeoutNs)) {
            throw new AgentTerminationException("parameter-server shard " + aggregator.shard() + " step "
                + aggregator.step() + ": the workers took no averages within "
                + TimeUnit.NANOSECONDS.toMillis(timeoutNs) + " ms (" + downstream.gate.refusal() + ")");
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
            if (!answers.send(true, chunk, 0)) {
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
            boolean skipped = !Double.isFinite(total) || !Float.isFinite(aggregator.meanLoss());
            answers.decided(skipped, (float) globalNorm);
            if (!skipped) {
                optimizer.apply(step, optimizer.rule().clipScale(globalNorm));
            }
            applied = true;
        }
        int work = 0;
        while (sent < aggregator.chunkCount()) {
            if (!answers.send(true, sent, 0)) {
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
        answers.onAdvance();
        sent = 0;
        started = false;
    }

    /** The publication the answers go out on now (tests: what an on-path attacker sees). */
    Publication downstream() {
        return downstream.publication();
    }

    @Override
    public void onClose() {
        downstream.close();
    }

    @Override
    public String roleName() {
        return "lockstep-ps-shard-" + aggregator.shard();
    }
}
