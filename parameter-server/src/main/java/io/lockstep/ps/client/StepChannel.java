package io.lockstep.ps.client;

import io.aeron.logbuffer.FragmentHandler;
import io.aeron.logbuffer.Header;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.HalfCodec;
import io.lockstep.ps.wire.WireFormat;
import org.agrona.BufferUtil;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.concurrent.TimeoutException;

/**
 * The gradient step of one worker: sends its batch's mean gradient, chunk by chunk, sealed from the off-heap
 * gradient vector into Aeron's log buffers, then takes every shard's answer (the average, or the parameters with
 * the optimizer on the server) and opens it back over the result vector (no Java-heap copy of the vector, only of
 * one frame at a time, {@link FrameCipher}). An answer for a chunk this worker has not sent yet cannot be genuine
 * and is not even opened, so nothing forged touches the part of the vector still to be sent.
 *
 * <p>With a 16-bit wire each chunk is rounded into a scratch chunk and sealed from there, with error feedback: the
 * channel keeps, per parameter, what rounding dropped from the value it sent (an off-heap vector allocated once) and
 * adds it to the next step's gradient before rounding; 16-bit answers are widened into the result vector.
 *
 * <p>Lost or forged-over frames are asked for again both ways ({@link ClientResends}, whose book this keeps; the
 * asks themselves are built here).
 */
final class StepChannel {
    private final ClientConnection c;
    private final ShardLayout layout;
    private final int rank;
    private final AnswerBook answers;
    private final boolean[] restartRequested; // by shard: its asks show it reads this rank's stream out of step
    private final GradientFrame frame = new GradientFrame();
    private final GradientFrame ask = new GradientFrame();
    private final GradientFrame opened = new GradientFrame(); // over an opened frame's header
    private final FragmentHandler onAnswer = this::onAnswer;
    private final UnsafeBuffer vector = new UnsafeBuffer(0, 0);   // what this worker sends
    private final UnsafeBuffer result = new UnsafeBuffer(0, 0);   // where averages or parameters land
    private final UnsafeBuffer askPayload = new UnsafeBuffer(BufferUtil.allocateDirectAligned(Long.BYTES, 8));
    private final FrameCipher toShards;
    private final FrameCipher fromShards;
    private final FrameCipher askShards;        // this rank's asks to the shards
    private final FrameCipher[] asksFromShards; // by shard
    private final short answerType; // AVERAGE, or PARAMS with the optimizer on the server
    private final WireFormat wire;        // of the gradients this client sends
    private final WireFormat answerWire;  // of the averages or parameters it receives
    private final UnsafeBuffer residual;  // 16-bit wire: what rounding dropped, by parameter
    private final UnsafeBuffer encoded;   // 16-bit wire: the step's gradient as rounded, sealed from here (and resent)
    private final ClientResends resends;
    private int pollingShard;

    private boolean anyStep;
    private long currentStep;
    private int sentSlots;      // chunks of the current step sent so far, in slot order
    private int stepSamples;    // what this rank sent this step: a resend repeats it exactly
    private float stepLoss;
    private long stepMask;
    private long totalSamples;
    private float meanLoss;
    private boolean skipped;
    private float norm = Float.NaN;

    StepChannel(ClientConnection connection) {
        this.c = connection;
        this.layout = c.layout;
        this.rank = c.rank;
        int shards = layout.shards();
        answers = new AnswerBook(layout);
        restartRequested = new boolean[shards];
        var secret = c.spec.secret();
        long job = c.spec.jobId();
        toShards = new FrameCipher(secret, job, FrameHeader.TYPE_GRADIENT, rank, c.scratch);
        answerType = c.spec.serverOptimizer() ? FrameHeader.TYPE_PARAMS : FrameHeader.TYPE_AVERAGE;
        fromShards = new FrameCipher(secret, job, answerType, GradientFrame.SERVER_RANK, c.scratch);
        askShards = new FrameCipher(secret, job, FrameHeader.TYPE_RESEND, rank, c.scratch);
        asksFromShards = new FrameCipher[shards];
        for (int s = 0; s < shards; s++) {
            asksFromShards[s] = new FrameCipher(secret, job, FrameHeader.TYPE_RESEND, GradientFrame.askSender(s),
                c.scratch);
        }
        wire = c.spec.wire();
        answerWire = c.spec.answerWire();
        residual = wire.rounds() ? new UnsafeBuffer(BufferUtil.allocateDirectAligned(
            layout.paramCount() * Float.BYTES, 64)) : null;
        encoded = wire.rounds() ? new UnsafeBuffer(BufferUtil.allocateDirectAligned(
            Math.max(1, layout.paramCount()) * wire.bytesPerValue(), 64)) : null;
        resends = new ClientResends(shards, answers.total());
    }

    /** See {@link GradientClient#exchange(long, long, int, float, long, long)}. */
    void exchange(long step, long address, int samples, float loss, long resultAddress, long shardMask)
        throws TimeoutException, InterruptedException {
        if (anyStep && step <= currentStep) {
            throw new IllegalArgumentException("rank " + rank + ": step " + step + " after step " + currentStep
                + ": steps must increase (each step's frames are sealed under nonces used once)");
        }
        vector.wrap(address, layout.paramCount() * Float.BYTES);
        result.wrap(resultAddress, layout.paramCount() * Float.BYTES);
        anyStep = true;
        currentStep = step;
        answers.clear();
        sentSlots = 0;
        skipped = false;
        norm = Float.NaN;
        stepSamples = samples;
        stepLoss = loss;
        stepMask = shardMask;
        long deadline = System.nanoTime() + c.timeoutNs;
        resends.onStep(System.nanoTime());
        for (int s = 0; s < layout.shards(); s++) {
            int chunks = layout.chunkCount(s);
            for (int ch = 0; ch < chunks; ch++) {
                send(s, ch, 0, deadline);
                sentSlots++;
                // take in averages that are already back; safe because a chunk's average
                // only exists once this worker's own copy of that chunk has gone out
                pollAnswers();
                resendDue(deadline);
            }
        }
        while (!answers.complete()) {
            int work = pollAnswers();
            work += resendDue(deadline);
            work += askForMissing(deadline);
            if (work == 0) {
                checkDeadline(deadline);
                c.idle.idle();
            } else {
                c.idle.reset();
            }
        }
    }

    private int pollAnswers() {
        int work = 0;
        for (int s = 0; s < layout.shards(); s++) {
            pollingShard = s;
            work += c.downstream(s).poll(onAnswer, ClientConnection.FRAGMENT_LIMIT);
        }
        return work;
    }

    /** Sends again the chunks a shard asked for ({@link ClientResends}). */
    private int resendDue(long deadline) throws TimeoutException, InterruptedException {
        int work = 0;
        for (int s = 0; s < restartRequested.length; s++) {
            if (restartRequested[s]) {
                restartUpstream(s, deadline);
                work++;
            }
        }
        while (resends.anyDue()) {
            int slot = resends.nextDue();
            int shard = answers.shardOf(slot);
            send(shard, slot - answers.base(shard), resends.nextResend(slot), deadline);
            work++;
        }
        return work;
    }

    /**
     * Asks each shard whose answers are not all in, once every chunk of this worker's has gone to it, for them
     * again when due ({@link ClientResends}): its first run of missing chunks, and how far this worker has read its
     * stream.
     */
    private int askForMissing(long deadline) throws TimeoutException, InterruptedException {
        long now = System.nanoTime();
        int work = 0;
        for (int s = 0; s < layout.shards(); s++) {
            int chunks = layout.chunkCount(s);
            if (answers.complete(s) || answers.base(s) + chunks > sentSlots || !resends.shouldAsk(s, now)) {
                continue;
            }
            // the first run of missing answers: a later ask covers a later run
            int first = answers.firstMissing(s);
            int last = answers.lastMissing(s, first);
            sendAsk(s, first, last - first + 1, resends.asked(s, now), deadline);
            work++;
        }
        return work;
    }

    private void sendAsk(int shard, int first, int count, int seq, long deadline)
        throws TimeoutException, InterruptedException {
        c.claimToShard(shard, GradientFrame.frameLength(2), currentStep, deadline);
        var claim = c.claim;
        int index = claim.offset();
        try {
            askPayload.putLong(0, c.downstream(shard).position(ExchangeSpec.SERVER), FrameHeader.ORDER);
            ask.wrapForWrite(claim.buffer(), index, claim.length())
                .header(FrameHeader.TYPE_RESEND, c.spec.jobId(), currentStep, rank, shard, first, count,
                    c.downstream(shard).generation(ExchangeSpec.SERVER), 0f, seq, 2);
            askShards.seal(claim.buffer(), index, GradientFrame.HEADER_LENGTH, askPayload, 0, Long.BYTES, currentStep, seq);
        } catch (RuntimeException e) {
            claim.abort();
            throw e;
        }
        claim.commit();
    }

    /** A shard asks this rank for gradient chunks of the current step again: the ones it has passed go out again. */
    private void onAsk(DirectBuffer buffer, int offset, int length, int shard) {
        GradientFrame f = ask.wrap(buffer, offset, length);
        if (!f.isWellFormed() || f.length() != 2 || f.encoding() != WireFormat.FP32.code()
            || f.jobId() != c.spec.jobId() || f.shard() != shard || f.resend() != 0) {
            c.ignoredFrames++;
            resends.onBadFrame(shard, false);
            return;
        }
        if (f.rank() != rank || f.step() != currentStep) {
            c.ignoredFrames += f.rank() == rank ? 1 : 0; // an ask for a sibling worker of this JVM is not ours to count
            return;
        }
        DirectBuffer plain = asksFromShards[shard].open(buffer, offset, GradientFrame.HEADER_LENGTH, Long.BYTES,
            currentStep, f.valueOffset());
        if (plain == null) {
            c.unauthenticated++;
            resends.onBadFrame(shard, true);
            return;
        }
        c.downstream(shard).genuine();
        if (!resends.acceptAsk(shard, f.valueOffset())) {
            c.ignoredFrames++; // a replayed ask
            return;
        }
        if (f.samples() != c.upstreamGeneration(shard)) {
            return; // about a session since abandoned: the restart sent everything again
        }
        int chunks = layout.chunkCount(shard);
        long readPosition = plain.getLong(0, FrameHeader.ORDER);
        if (resends.looksBroken(shard, readPosition, c.upstream(shard).position(), System.nanoTime())) {
            restartRequested[shard] = true; // done after the poll: it adds a publication and waits for it
            return;
        }
        int from = answers.base(shard) + Math.max(0, Math.min(chunks, f.chunk()));
        int to = answers.base(shard) + (int) Math.max(0, Math.min(chunks, (long) f.chunk() + f.chunkCount()));
        resends.markDue(from, Math.min(to, sentSlots), readPosition);
    }

    /** A fresh session for {@code shard} ({@link ClientConnection#restartUpstream}): every chunk sent goes again. */
    private void restartUpstream(int shard, long deadline) throws TimeoutException, InterruptedException {
        restartRequested[shard] = false;
        c.restartUpstream(shard, deadline);
        resends.onRestart(answers.base(shard), Math.min(answers.base(shard) + layout.chunkCount(shard), sentSlots));
    }

    /**
     * Sends chunk {@code chunk} of shard {@code shard}: this step's samples, loss and values (empty for a shard
     * outside the step's mask), the {@code resend}-th time (0: the first). A 16-bit chunk is rounded into the step's
     * encoded copy on its first send and sealed from there every time.
     */
    private void send(int shard, int chunk, int resend, long deadline) throws TimeoutException, InterruptedException {
        boolean mine = (stepMask >>> shard & 1) != 0;
        int samples = mine ? stepSamples : 0;
        int start = layout.chunkStart(shard, chunk);
        int length = samples == 0 ? 0 : layout.chunkLength(shard, chunk);
        long end = c.claimToShard(shard, GradientFrame.frameLength(length, wire), currentStep, deadline);
        var claim = c.claim;
        int index = claim.offset();
        try {
            frame.wrapForWrite(claim.buffer(), index, claim.length())
                .header(FrameHeader.TYPE_GRADIENT, c.spec.jobId(), currentStep, rank, shard, chunk,
                    layout.chunkCount(shard), samples, mine ? stepLoss : 0f, start, length).encoding(wire).resend(resend);
            long nonceStep = FrameHeader.nonceStep(currentStep, resend);
            if (wire.rounds()) {
                int at = start * wire.bytesPerValue();
                if (resend == 0) {
                    HalfCodec.encode(wire, vector, start * Float.BYTES, residual, start * Float.BYTES, encoded, at, length);
                }
                toShards.seal(claim.buffer(), index, GradientFrame.HEADER_LENGTH, encoded, at,
                    length * wire.bytesPerValue(), nonceStep, start);
            } else {
                toShards.seal(claim.buffer(), index, GradientFrame.HEADER_LENGTH, vector, start * Float.BYTES,
                    length * Float.BYTES, nonceStep, start);
            }
        } catch (RuntimeException e) {
            claim.abort(); // never leave a claim open: it would block the publication
            throw e;
        }
        claim.commit();
        resends.onSent(answers.slot(shard, chunk), resend, end);
    }

    private void onAnswer(DirectBuffer buffer, int offset, int length, Header header) {
        int type = FrameHeader.type(buffer, offset, length);
        if (type == FrameHeader.TYPE_RESEND) {
            onAsk(buffer, offset, length, pollingShard);
            return;
        }
        frame.wrap(buffer, offset, length);
        if (type != answerType || !frame.isWellFormed()) {
            c.ignoredFrames++;
            if (type != FrameHeader.TYPE_STATE) {
                resends.onBadFrame(pollingShard, false);
            }
            return;
        }
        if (frame.encoding() != answerWire.code() || frame.jobId() != c.spec.jobId() || frame.step() != currentStep) {
            c.ignoredFrames++;
            return;
        }
        int shard = frame.shard();
        int chunk = frame.chunk();
        boolean skip = (frame.flags() & FrameHeader.FLAG_SKIPPED) != 0;
        if (shard != pollingShard || chunk < 0 || chunk >= layout.chunkCount(shard)
            || frame.valueOffset() != layout.chunkStart(shard, chunk)
            || frame.length() != (skip ? 0 : layout.chunkLength(shard, chunk))
            || skip && answerType != FrameHeader.TYPE_PARAMS) {
            c.ignoredFrames++;
            resends.onBadFrame(pollingShard, false);
            return;
        }
        int slot = answers.slot(shard, chunk);
        if (answers.has(slot) || slot >= sentSlots) {
            c.ignoredFrames++; // a repeat, or an "average" of a chunk not sent yet: neither can be genuine
            return;
        }
        if (!openAnswer(buffer, offset)) {
            c.unauthenticated++;
            resends.onBadFrame(shard, true);
            return;
        }
        answers.take(shard, slot);
        c.downstream(shard).genuine();
        resends.onAnswer(shard, System.nanoTime());
        GradientFrame sealed = opened.wrap(fromShards.openedHeader(), 0, GradientFrame.HEADER_LENGTH);
        totalSamples = sealed.samples(); // sealed with the values (GradientFrame.hiddenFields)
        meanLoss = sealed.loss();
        skipped |= skip;
        norm = sealed.norm();
    }

    /** Opens a checked answer frame into the result vector, widening 16-bit values; false when its tag fails. */
    private boolean openAnswer(DirectBuffer buffer, int offset) {
        int n = frame.length();
        int at = frame.valueOffset();
        if (!answerWire.rounds()) {
            return fromShards.openInto(buffer, offset, GradientFrame.HEADER_LENGTH, n * Float.BYTES, result,
                at * Float.BYTES, frame.nonceStep(), at);
        }
        DirectBuffer plain = fromShards.open(buffer, offset, GradientFrame.HEADER_LENGTH, n * answerWire.bytesPerValue(),
            frame.nonceStep(), at);
        if (plain == null) {
            return false;
        }
        HalfCodec.decode(answerWire, plain, 0, result, at * Float.BYTES, n);
        return true;
    }

    /** Throws once past the deadline (or interrupted), naming the shards whose answers are missing and why. */
    private void checkDeadline(long deadline) throws TimeoutException, InterruptedException {
        int overdue = ClientConnection.overdue(deadline);
        if (overdue != 0) {
            c.fail(overdue, "rank " + rank + " step " + currentStep + ": no " + (c.spec.serverOptimizer() ? "parameters"
                : "average") + " from " + answers.missingShards() + forgeries());
        }
    }

    /** "; shard 1's answers failed authentication 40 times: forged or corrupted on the wire", for each such shard. */
    private String forgeries() {
        StringBuilder sb = new StringBuilder();
        for (int s = 0; s < layout.shards(); s++) {
            int failed = resends.authFailures(s);
            if (failed > 0 && !answers.complete(s)) {
                sb.append("; shard ").append(s).append("'s answers failed authentication ").append(failed)
                    .append(failed == 1 ? " time" : " times").append(": forged or corrupted on the wire");
            }
        }
        return sb.toString();
    }

    boolean anyStep() { return anyStep; }

    long currentStep() { return currentStep; }

    AnswerBook answers() { return answers; }

    long totalSamples() { return totalSamples; }

    float meanLoss() { return meanLoss; }

    boolean skipped() { return skipped; }

    float gradientNorm() { return norm; }

    ClientResends resends() { return resends; }

    float residual(int i) {
        return residual == null ? 0f : residual.getFloat(i * Float.BYTES);
    }
}
