package io.lockstep.ps.client;

import io.aeron.Aeron;
import io.aeron.ExclusivePublication;
import io.aeron.Image;
import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.ControlledFragmentHandler.Action;
import io.aeron.logbuffer.ControlledFragmentHandler;
import io.aeron.logbuffer.FragmentHandler;
import io.aeron.logbuffer.Header;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.media.FreePorts;
import io.lockstep.ps.media.IdleStrategies;
import io.lockstep.ps.session.AskClock;
import io.lockstep.ps.session.BoundSubscriptions;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GatherFrame;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.HalfCodec;
import io.lockstep.ps.wire.JobSecret;
import io.lockstep.ps.wire.JoinFrame;
import io.lockstep.ps.wire.WireFormat;
import org.agrona.BufferUtil;
import org.agrona.CloseHelper;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A worker's side of the exchange: sends its batch's mean gradient, chunk by chunk, sealed from the
 * off-heap gradient vector into Aeron's log buffers, then waits for every shard's average and opens
 * it back over the same vector (no Java-heap copy of the vector, only of one frame at a time,
 * {@link FrameCipher}). One instance per worker, used by one thread.
 *
 * <p>The same client runs all-gathers of small opaque blobs ({@link #allGather}) on streams of
 * their own, so gradient steps and gathers interleave in whatever order the caller uses.
 *
 * <p>Nothing is adopted unless a shard (or the gather endpoint) sealed it with the job's secret: a
 * frame whose tag does not hold is dropped and counted ({@link #unauthenticatedFrames()}), and an
 * average for a chunk this worker has not sent yet cannot be genuine and is not even opened, so
 * nothing forged touches the part of the vector still to be sent. Steps and gather rounds must
 * strictly increase: each one's nonces are used once ({@link FrameCipher}).
 *
 * <p>With a 16-bit wire ({@link ExchangeSpec#wire()}) each chunk is rounded into a scratch chunk and sealed
 * from there, with error feedback: the client keeps, per parameter, what rounding dropped from the value it
 * sent (an off-heap vector allocated once) and adds it to the next step's gradient before rounding; 16-bit
 * averages are opened into the scratch array and widened into the result vector.
 *
 * <p>Frames lost or forged over on the wire are asked for again, both ways ({@link ClientResends}): the client asks
 * a shard for answers it lacks and sends again the chunks a shard asks for, and starts its gradients over on a new
 * session when a shard's asks show it reads them out of step; all-gather pieces and JOINs are recovered the same way
 * (THREAT-MODEL.md).
 *
 * <p>Nothing is allocated per step (but inside the JDK's GCM), and no wait builds a string or an object
 * while it spins: deadline messages are built once the deadline has passed.
 */
public final class GradientClient implements AutoCloseable {
    private static final int FRAGMENT_LIMIT = 16;
    /** (job, host) → the ports this JVM's workers receive on: averages by shard, then gathered blobs. */
    private static final Map<String, int[]> RECEIVE_PORTS = new ConcurrentHashMap<>();
    /** What a wait is for, so that its deadline message is only built once it has passed. */
    private static final int WAIT_UPSTREAM = 0;
    private static final int WAIT_DOWNSTREAM = 1;
    private static final int WAIT_SEND = 2;
    private static final int WAIT_AVERAGES = 3;
    private static final int WAIT_STATE = 4;
    /** The shard argument of a wait that is for the gather endpoint. */
    private static final int GATHER = -1;
    private static final byte[] NO_BLOB = new byte[0];
    /** How long a worker waits to hear a server before it sends its JOIN again (doubling, and at most every 2 s). */
    private static final long JOIN_AGAIN_NS = 1_000_000_000L;

    private final ExchangeSpec spec;
    private final ShardLayout layout;
    private final int rank;
    private final String workerHost;
    private final ExclusivePublication[] upstream;
    private final BoundSubscriptions[] downstream; // by shard: its answers' session, and the next generation's
    private final int[] upstreamGeneration;         // by shard: of this rank's gradients' session
    private final Aeron aeron;
    private final boolean[] received;
    private final int[] chunkBase;
    private final BufferClaim claim = new BufferClaim();
    private final GradientFrame frame = new GradientFrame();
    private final IdleStrategy idle = IdleStrategies.client();
    private final FragmentHandler onAverage = this::onAverage;
    private final long timeoutNs;
    private final ExclusivePublication gatherUpstream;
    private final Subscription gatherDownstream;
    private final GatherFrame gatherFrame = new GatherFrame();
    private final JoinFrame joinFrame = new JoinFrame();
    private final ControlledFragmentHandler onGathered = this::onGathered;
    private final int gatherChunkBytes;
    private final int[] gatheredBytes;
    private final FrameCipher.Scratch scratch = new FrameCipher.Scratch();
    private final UnsafeBuffer vector = new UnsafeBuffer(0, 0);   // what this worker sends
    private final UnsafeBuffer result = new UnsafeBuffer(0, 0);   // where averages or parameters land
    private final UnsafeBuffer blobBuffer = new UnsafeBuffer(NO_BLOB);
    private final FrameCipher toShards;
    private final FrameCipher fromShards;
    private final FrameCipher toGather;
    private final FrameCipher[] fromGather; // by the blob's owner
    private final FrameCipher joins;
    private final short answerType; // AVERAGE, or PARAMS with the optimizer on the server
    private final WireFormat wire;        // of the gradients this client sends
    private final WireFormat answerWire;  // of the averages or parameters it receives
    private final UnsafeBuffer residual;  // 16-bit wire: what rounding dropped, by parameter
    private final UnsafeBuffer encoded;   // 16-bit wire: the step's gradient as rounded, sealed from here (and resent)
    private final ClientResends resends;
    private final FrameCipher askShards;       // this rank's asks to the shards
    private final FrameCipher[] asksFromShards; // by shard
    private final GradientFrame ask = new GradientFrame();
    private final GradientFrame opened = new GradientFrame(); // over an opened frame's header
    private final UnsafeBuffer askPayload = new UnsafeBuffer(BufferUtil.allocateDirectAligned(Long.BYTES, 8));
    private final int[] receivedByShard;
    private final boolean[] restartRequested; // by shard: its asks show it reads this rank's stream out of step
    private int pollingShard;
    private final FrameCipher toStateRequests;
    private final FrameCipher fromStates;
    private final FragmentHandler onState = this::onState;
    private boolean[] stateReceived;
    private int stateReceivedCount;
    private long stateStep = -1;

    private boolean anyStep;
    private long currentStep;
    private int sentSlots;      // chunks of the current step sent so far, in slot order
    private int receivedCount;
    private int stepSamples;    // what this rank sent this step: a resend repeats it exactly
    private float stepLoss;
    private long stepMask;
    private long totalSamples;
    private float meanLoss;
    private boolean skipped;
    private float norm = Float.NaN;
    private long ignoredFrames;
    private long unauthenticated;
    private boolean anyRound;
    private long gatherRound;
    private byte[][] gathered; // by rank, for the round being gathered
    private long gatherDeadline;
    private static final long FIRST_GATHER_ASK_NS = AskClock.FIRST_ASK_MS * 1_000_000L;
    private long gatherAskAtNs;
    private long gatherAskIntervalNs;
    private int gatherAskSeq;
    private long gatherAsksSent;
    private long gatherPiecesResent;
    private int gatherUploadResends;
    private long[] uploadEnds;      // by piece of this rank's blob of the round: stream position after it went out
    private boolean[] uploadDue;    // by piece: the endpoint asked for it again
    private boolean anyUploadDue;
    private long lastGatherAskSeq = -1;
    private final FrameCipher gatherAsksIn; // the endpoint's asks
    private final FrameCipher gatherAsks;
    private int gatheredCount;

    public GradientClient(Aeron aeron, ExchangeSpec spec, int rank, String workerHost) {
        GradientFrame.requireLittleEndian();
        this.spec = spec;
        this.layout = spec.layout();
        this.rank = rank;
        this.workerHost = workerHost;
        this.timeoutNs = TimeUnit.MILLISECONDS.toNanos(spec.timeoutMillis());
        int shards = layout.shards();
        upstream = new ExclusivePublication[shards];
        downstream = new BoundSubscriptions[shards];
        upstreamGeneration = new int[shards];
        this.aeron = aeron;
        chunkBase = new int[shards];
        int total = 0;
        for (int s = 0; s < shards; s++) {
            chunkBase[s] = total;
            total += layout.chunkCount(s);
        }
        received = new boolean[total];
        gatherChunkBytes = ExchangeSpec.gatherChunkBytesFor(spec.mtu());
        gatheredBytes = new int[spec.workers()];
        JobSecret secret = spec.secret();
        long job = spec.jobId();
        toShards = new FrameCipher(secret, job, FrameHeader.TYPE_GRADIENT, rank, scratch);
        answerType = spec.serverOptimizer() ? FrameHeader.TYPE_PARAMS : FrameHeader.TYPE_AVERAGE;
        fromShards = new FrameCipher(secret, job, answerType, GradientFrame.SERVER_RANK, scratch);
        toStateRequests = new FrameCipher(secret, job, FrameHeader.TYPE_STATE_REQUEST, rank, scratch);
        fromStates = new FrameCipher(secret, job, FrameHeader.TYPE_STATE, GradientFrame.SERVER_RANK, scratch);
        toGather = new FrameCipher(secret, job, FrameHeader.TYPE_GATHER, rank, scratch);
        fromGather = FrameCipher.perRank(secret, job, FrameHeader.TYPE_GATHERED, spec.workers(), scratch);
        joins = new FrameCipher(secret, job, FrameHeader.TYPE_JOIN, rank, scratch);
        gatherAsks = new FrameCipher(secret, job, FrameHeader.TYPE_GATHER_ASK, rank, scratch);
        gatherAsksIn = new FrameCipher(secret, job, FrameHeader.TYPE_GATHER_ASK, GradientFrame.SERVER_RANK, scratch);
        wire = spec.wire();
        answerWire = spec.answerWire();
        residual = wire.rounds() ? new UnsafeBuffer(BufferUtil.allocateDirectAligned(
            layout.paramCount() * Float.BYTES, 64)) : null;
        encoded = wire.rounds() ? new UnsafeBuffer(BufferUtil.allocateDirectAligned(
            Math.max(1, layout.paramCount()) * wire.bytesPerValue(), 64)) : null;
        resends = new ClientResends(shards, total);
        askShards = new FrameCipher(secret, job, FrameHeader.TYPE_RESEND, rank, scratch);
        asksFromShards = new FrameCipher[shards];
        for (int s = 0; s < shards; s++) {
            asksFromShards[s] = new FrameCipher(secret, job, FrameHeader.TYPE_RESEND, GradientFrame.askSender(s), scratch);
        }
        receivedByShard = new int[shards];
        restartRequested = new boolean[shards];
        try {
            for (int s = 0; s < shards; s++) {
                int shard = s;
                int port = receivePort(spec, s, workerHost);
                downstream[s] = new BoundSubscriptions(aeron, spec.downstreamStream(s), new int[]{ExchangeSpec.SERVER},
                    (server, generation) -> spec.downstreamSubscriptionChannel(shard, workerHost, port, generation));
                upstream[s] = aeron.addExclusivePublication(spec.upstreamChannel(s, rank), spec.upstreamStream(s));
            }
            gatherDownstream = aeron.addSubscription(
                spec.gatherDownstreamSubscriptionChannel(workerHost, receivePort(spec, shards, workerHost)),
                spec.gatherDownstreamStream());
            gatherUpstream = aeron.addExclusivePublication(spec.gatherUpstreamChannel(rank), spec.gatherUpstreamStream());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * All workers of one JVM receive a shard's averages on the same port, so their media driver
     * takes each average in once and every worker reads it from the one image: the shard sends
     * one copy per JVM, not per worker.
     */
    private static int receivePort(ExchangeSpec spec, int index, String workerHost) {
        if (spec.transport() == ExchangeSpec.Transport.IPC) {
            return 0;
        }
        // all ports in one call, so they are distinct: one per shard, then the gather's
        return RECEIVE_PORTS.computeIfAbsent(spec.jobId() + "/" + workerHost,
            k -> FreePorts.udp(workerHost, spec.layout().shards() + 1))[index];
    }

    /** The publication to shard {@code shard} (tests: an on-path attacker knows its session and position). */
    public ExclusivePublication upstreamPublication(int shard) {
        return upstream[shard];
    }

    /** The publication to the gather endpoint (tests: what an on-path attacker sees). */
    public ExclusivePublication gatherUpstreamPublication() {
        return gatherUpstream;
    }

    /** The endpoint this JVM receives shard {@code s}'s averages on ({@code layout.shards()}: the gathered blobs). */
    public String receiveEndpoint(int index) {
        return ExchangeSpec.endpoint(workerHost, receivePort(spec, index, workerHost));
    }

    /**
     * Joins the job: waits until every shard and the gather endpoint can hear this worker, tells each
     * (over UDP) where this worker's JVM receives, in an authenticated JOIN frame, and waits until each
     * sends there. Only then may the first gradient go out: averages are published only once every
     * rank's gradients are in, so every worker's image exists before any average is sent.
     */
    public void awaitConnected() throws TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + timeoutNs;
        for (int s = 0; s < layout.shards(); s++) {
            awaitUpstream(upstream[s], s, deadline);
        }
        awaitUpstream(gatherUpstream, GATHER, deadline);
        UnsafeBuffer[] joined = new UnsafeBuffer[layout.shards() + 1]; // the sealed JOINs, by shard, then the gather's
        if (spec.transport() == ExchangeSpec.Transport.UDP) {
            for (int s = 0; s < layout.shards(); s++) {
                joined[s] = sendJoin(upstream[s], s, receiveEndpoint(s), deadline);
            }
            joined[layout.shards()] = sendJoin(gatherUpstream, JoinFrame.GATHER_TARGET, receiveEndpoint(layout.shards()),
                deadline);
        }
        for (int s = 0; s < layout.shards(); s++) {
            String source = serverSource(spec.controlPorts()[s]);
            boolean ipc = spec.transport() == ExchangeSpec.Transport.IPC;
            long again = JOIN_AGAIN_NS;
            long at = System.nanoTime() + again;
            while (!downstream[s].hears(ExchangeSpec.SERVER, image -> ipc || image.sourceIdentity().endsWith(source))) {
                checkDeadline(deadline, WAIT_DOWNSTREAM, s, 0);
                if (joined[s] != null && System.nanoTime() - at > 0) {
                    upstream[s].offer(joined[s]); // lost, or forged over on the wire: the same sealed bytes again
                    again = Math.min(again * 2, 2_000_000_000L);
                    at = System.nanoTime() + again;
                }
                idle.idle();
            }
        }
        String gatherSource = serverSource(spec.gatherControlPort());
        long again = JOIN_AGAIN_NS;
        long at = System.nanoTime() + again;
        while (!hearsServer(gatherDownstream, gatherSource)) {
            checkDeadline(deadline, WAIT_DOWNSTREAM, GATHER, 0);
            UnsafeBuffer join = joined[layout.shards()];
            if (join != null && System.nanoTime() - at > 0) {
                gatherUpstream.offer(join);
                again = Math.min(again * 2, 2_000_000_000L);
                at = System.nanoTime() + again;
            }
            idle.idle();
        }
        idle.reset();
    }

    private void awaitUpstream(Publication pub, int shard, long deadline) throws TimeoutException, InterruptedException {
        while (!pub.isConnected()) {
            checkDeadline(deadline, WAIT_UPSTREAM, shard, 0);
            idle.idle();
        }
    }

    /** The end of an image's source identity when it comes from the server's port (built before a wait). */
    private static String serverSource(int serverPort) {
        return ":" + serverPort;
    }

    /**
     * True once the subscription has an image from the server's publication: over UDP one whose
     * source ends in {@code source}, the server's port for it. Anyone can send to a worker's endpoint, and
     * an image of a stranger's must not pass for the server's (the server would then publish to an endpoint
     * whose image is not there yet). Indexes the images rather than copying their list: runs on every spin.
     */
    private boolean hearsServer(Subscription sub, String source) {
        if (!sub.isConnected()) {
            return false;
        }
        if (spec.transport() == ExchangeSpec.Transport.IPC) {
            return true;
        }
        for (int i = 0, n = sub.imageCount(); i < n; i++) {
            Image image = sub.imageAtIndex(i);
            if (image.sourceIdentity().endsWith(source)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Sends one sealed JOIN and returns a copy of its bytes: while the server is not heard from, the same bytes go
     * again ({@link #awaitConnected}), never a second sealing under the same nonce. A server that has the JOIN drops
     * a copy as a duplicate.
     */
    private UnsafeBuffer sendJoin(ExclusivePublication pub, int target, String endpoint, long deadline)
        throws TimeoutException, InterruptedException {
        UnsafeBuffer bytes = new UnsafeBuffer(new byte[endpoint.length()]);
        bytes.putStringWithoutLengthAscii(0, endpoint);
        long result;
        while ((result = pub.tryClaim(JoinFrame.frameLength(bytes.capacity()), claim)) < 0) {
            if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED) {
                throw new IllegalStateException("rank " + rank + ": publication to " + (target == JoinFrame.GATHER_TARGET
                    ? "the gather endpoint" : "shard " + target) + " unusable (" + result + ")");
            }
            checkDeadline(deadline, WAIT_UPSTREAM, target == JoinFrame.GATHER_TARGET ? GATHER : target, 0);
            idle.idle();
        }
        idle.reset();
        int index = claim.offset();
        try {
            joinFrame.wrapForWrite(claim.buffer(), index, claim.length())
                .header(spec.jobId(), rank, target, bytes.capacity());
            joins.seal(claim.buffer(), index, JoinFrame.HEADER_LENGTH, bytes, 0, bytes.capacity(), target, 0);
        } catch (RuntimeException e) {
            claim.abort();
            throw e;
        }
        UnsafeBuffer sealed = new UnsafeBuffer(new byte[claim.length()]);
        sealed.putBytes(0, claim.buffer(), index, claim.length());
        claim.commit();
        return sealed;
    }

    /**
     * Sends the mean gradient of a {@code samples}-sample batch for {@code step}, read from the float
     * vector at {@code address}, and overwrites that vector with the sample-weighted average.
     * With {@code samples == 0} (an exhausted shard) empty frames keep the step in lockstep.
     * Steps must strictly increase.
     */
    public void exchange(long step, long address, int samples, float loss)
        throws TimeoutException, InterruptedException {
        if (spec.serverOptimizer()) {
            throw new IllegalStateException("the shards apply the optimizer: use exchange(step, gradient, samples, "
                + "loss, params)");
        }
        exchange(step, address, samples, loss, address);
    }

    /**
     * As {@link #exchange(long, long, int, float)}, with the answer written to the float vector at
     * {@code resultAddress}: the average, or with the optimizer on the server ({@link ExchangeSpec#optimizer()})
     * the parameters after the step — left as they were when the shards skipped a non-finite step
     * ({@link #skipped()}). The two vectors may be the same.
     */
    public void exchange(long step, long address, int samples, float loss, long resultAddress)
        throws TimeoutException, InterruptedException {
        exchange(step, address, samples, loss, resultAddress, -1L);
    }

    /**
     * As {@link #exchange(long, long, int, float, long)}, contributing only to the shards in {@code shardMask}
     * (bit s: shard s; shards number at most 64): to the others this rank sends empty frames, as a rank without
     * samples does. Workers of one JVM that split their group's reduction each send their part this way
     * ({@code GroupExchange}); every rank still takes every shard's answer.
     */
    public void exchange(long step, long address, int samples, float loss, long resultAddress, long shardMask)
        throws TimeoutException, InterruptedException {
        if (anyStep && step <= currentStep) {
            throw new IllegalArgumentException("rank " + rank + ": step " + step + " after step " + currentStep
                + ": steps must increase (each step's frames are sealed under nonces used once)");
        }
        vector.wrap(address, layout.paramCount() * Float.BYTES);
        result.wrap(resultAddress, layout.paramCount() * Float.BYTES);
        anyStep = true;
        currentStep = step;
        Arrays.fill(received, false);
        Arrays.fill(receivedByShard, 0);
        receivedCount = 0;
        sentSlots = 0;
        skipped = false;
        norm = Float.NaN;
        stepSamples = samples;
        stepLoss = loss;
        stepMask = shardMask;
        long deadline = System.nanoTime() + timeoutNs;
        resends.onStep(System.nanoTime());
        for (int s = 0; s < layout.shards(); s++) {
            int chunks = layout.chunkCount(s);
            for (int c = 0; c < chunks; c++) {
                send(s, c, 0, deadline);
                sentSlots++;
                // take in averages that are already back; safe because a chunk's average
                // only exists once this worker's own copy of that chunk has gone out
                pollAverages();
                resendDue(deadline);
            }
        }
        while (receivedCount < received.length) {
            int work = pollAverages();
            work += resendDue(deadline);
            work += askForMissing(deadline);
            if (work == 0) {
                checkDeadline(deadline, WAIT_AVERAGES, 0, 0);
                idle.idle();
            } else {
                idle.reset();
            }
        }
    }

    private int pollAverages() {
        int work = 0;
        for (int s = 0; s < downstream.length; s++) {
            pollingShard = s;
            work += downstream[s].poll(onAverage, FRAGMENT_LIMIT);
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
            int shard = shardOf(slot);
            send(shard, slot - chunkBase[shard], resends.nextResend(slot), deadline);
            work++;
        }
        return work;
    }

    private int shardOf(int slot) {
        int s = layout.shards() - 1;
        while (chunkBase[s] > slot) {
            s--;
        }
        return s;
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
            if (receivedByShard[s] == chunks || chunkBase[s] + chunks > sentSlots || !resends.shouldAsk(s, now)) {
                continue;
            }
            int first = 0;
            while (received[chunkBase[s] + first]) {
                first++;
            }
            int last = first; // the first run of missing answers: a later ask covers a later run
            while (last + 1 < chunks && !received[chunkBase[s] + last + 1]) {
                last++;
            }
            sendAsk(s, first, last - first + 1, resends.asked(s, now), deadline);
            work++;
        }
        return work;
    }

    private void sendAsk(int shard, int first, int count, int seq, long deadline)
        throws TimeoutException, InterruptedException {
        claimToShard(shard, GradientFrame.frameLength(2), deadline);
        int index = claim.offset();
        try {
            askPayload.putLong(0, downstream[shard].position(ExchangeSpec.SERVER), FrameHeader.ORDER);
            ask.wrapForWrite(claim.buffer(), index, claim.length())
                .header(FrameHeader.TYPE_RESEND, spec.jobId(), currentStep, rank, shard, first, count,
                    downstream[shard].generation(ExchangeSpec.SERVER), 0f, seq, 2);
            askShards.seal(claim.buffer(), index, GradientFrame.HEADER_LENGTH, askPayload, 0, Long.BYTES, currentStep, seq);
        } catch (RuntimeException e) {
            claim.abort();
            throw e;
        }
        claim.commit();
    }

    /**
     * Claims {@code length} bytes of the publication to {@code shard}, waiting out back-pressure within
     * {@code deadline}; returns the stream position after the claimed frame.
     */
    private long claimToShard(int shard, int length, long deadline) throws TimeoutException, InterruptedException {
        ExclusivePublication pub = upstream[shard];
        long result;
        while ((result = pub.tryClaim(length, claim)) < 0) {
            if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED) {
                throw new IllegalStateException("rank " + rank + ": publication to shard " + shard + " unusable ("
                    + result + ")");
            }
            checkDeadline(deadline, WAIT_SEND, shard, result);
            idle.idle();
        }
        idle.reset();
        return result;
    }

    /** A shard asks this rank for gradient chunks of the current step again: the ones it has passed go out again. */
    private void onAsk(DirectBuffer buffer, int offset, int length, int shard) {
        GradientFrame f = ask.wrap(buffer, offset, length);
        if (!f.isWellFormed() || f.length() != 2 || f.encoding() != WireFormat.FP32.code() || f.jobId() != spec.jobId()
            || f.shard() != shard || f.resend() != 0) {
            ignoredFrames++;
            resends.onBadFrame(shard, false);
            return;
        }
        if (f.rank() != rank || f.step() != currentStep) {
            ignoredFrames += f.rank() == rank ? 1 : 0; // an ask for a sibling worker of this JVM is not ours to count
            return;
        }
        DirectBuffer plain = asksFromShards[shard].open(buffer, offset, GradientFrame.HEADER_LENGTH, Long.BYTES,
            currentStep, f.valueOffset());
        if (plain == null) {
            unauthenticated++;
            resends.onBadFrame(shard, true);
            return;
        }
        downstream[shard].genuine();
        if (!resends.acceptAsk(shard, f.valueOffset())) {
            ignoredFrames++; // a replayed ask
            return;
        }
        if (f.samples() != upstreamGeneration[shard]) {
            return; // about a session since abandoned: the restart sent everything again
        }
        int chunks = layout.chunkCount(shard);
        long readPosition = plain.getLong(0, FrameHeader.ORDER);
        if (resends.looksBroken(shard, readPosition, upstream[shard].position(), System.nanoTime())) {
            restartRequested[shard] = true; // done after the poll: it adds a publication and waits for it
            return;
        }
        int from = chunkBase[shard] + Math.max(0, Math.min(chunks, f.chunk()));
        int to = chunkBase[shard] + (int) Math.max(0, Math.min(chunks, (long) f.chunk() + f.chunkCount()));
        resends.markDue(from, Math.min(to, sentSlots), readPosition);
    }

    /**
     * Starts this rank's gradients to {@code shard} over on the next generation's session ({@link BoundSubscriptions}):
     * a new publication, connected, then the old one closed; every chunk of the step sent on the old one goes again.
     */
    private void restartUpstream(int shard, long deadline) throws TimeoutException, InterruptedException {
        restartRequested[shard] = false;
        int generation = upstreamGeneration[shard] + 1;
        ExclusivePublication fresh = aeron.addExclusivePublication(spec.upstreamChannel(shard, rank, generation),
            spec.upstreamStream(shard));
        ExclusivePublication old = upstream[shard];
        upstream[shard] = fresh;
        upstreamGeneration[shard] = generation;
        old.close();
        awaitUpstream(fresh, shard, deadline);
        resends.onRestart(chunkBase[shard], Math.min(chunkBase[shard] + layout.chunkCount(shard), sentSlots));
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
        long result = claimToShard(shard, GradientFrame.frameLength(length, wire), deadline);
        int index = claim.offset();
        try {
            frame.wrapForWrite(claim.buffer(), index, claim.length())
                .header(FrameHeader.TYPE_GRADIENT, spec.jobId(), currentStep, rank, shard, chunk, layout.chunkCount(shard),
                    samples, mine ? stepLoss : 0f, start, length).encoding(wire).resend(resend);
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
        resends.onSent(chunkBase[shard] + chunk, resend, result);
    }

    private void onAverage(DirectBuffer buffer, int offset, int length, Header header) {
        int type = FrameHeader.type(buffer, offset, length);
        if (type == FrameHeader.TYPE_RESEND) {
            onAsk(buffer, offset, length, pollingShard);
            return;
        }
        frame.wrap(buffer, offset, length);
        if (type != answerType || !frame.isWellFormed()) {
            ignoredFrames++;
            if (type != FrameHeader.TYPE_STATE) {
                resends.onBadFrame(pollingShard, false);
            }
            return;
        }
        if (frame.encoding() != answerWire.code() || frame.jobId() != spec.jobId() || frame.step() != currentStep) {
            ignoredFrames++;
            return;
        }
        int shard = frame.shard();
        int chunk = frame.chunk();
        boolean skip = (frame.flags() & FrameHeader.FLAG_SKIPPED) != 0;
        if (shard != pollingShard || chunk < 0 || chunk >= layout.chunkCount(shard)
            || frame.valueOffset() != layout.chunkStart(shard, chunk)
            || frame.length() != (skip ? 0 : layout.chunkLength(shard, chunk))
            || skip && answerType != FrameHeader.TYPE_PARAMS) {
            ignoredFrames++;
            resends.onBadFrame(pollingShard, false);
            return;
        }
        int slot = chunkBase[shard] + chunk;
        if (received[slot] || slot >= sentSlots) {
            ignoredFrames++; // a repeat, or an "average" of a chunk not sent yet: neither can be genuine
            return;
        }
        if (!openAnswer(buffer, offset)) {
            unauthenticated++;
            resends.onBadFrame(shard, true);
            return;
        }
        received[slot] = true;
        receivedCount++;
        receivedByShard[shard]++;
        downstream[shard].genuine();
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

    /**
     * With the optimizer on the server: writes every shard's optimizer state after {@code step} (the last
     * step exchanged) to the float vector at {@code address}, slot-major ({@code slots × paramCount} floats:
     * slot k of parameter i at k·paramCount + i). For a checkpoint; once per step (the shards answer once).
     */
    public void fetchState(long step, long address) throws TimeoutException, InterruptedException {
        if (!spec.serverOptimizer()) {
            throw new IllegalStateException("the optimizer state is on the workers, not on the shards");
        }
        if (!anyStep || step != currentStep || step <= stateStep) {
            throw new IllegalArgumentException("rank " + rank + ": state after step " + step + " (last exchanged "
                + (anyStep ? currentStep : "none") + ", state last fetched after " + stateStep + ")");
        }
        int slots = spec.optimizer().rule().stateSlots();
        stateStep = step;
        if (slots == 0) {
            return;
        }
        result.wrap(address, Math.toIntExact((long) slots * layout.paramCount() * Float.BYTES));
        if (stateReceived == null) {
            stateReceived = new boolean[slots * received.length];
        }
        Arrays.fill(stateReceived, false);
        stateReceivedCount = 0;
        long deadline = System.nanoTime() + timeoutNs;
        for (int s = 0; s < layout.shards(); s++) {
            sendStateRequest(s, deadline);
        }
        while (stateReceivedCount < stateReceived.length) {
            int work = 0;
            for (BoundSubscriptions sub : downstream) {
                work += sub.poll(onState, FRAGMENT_LIMIT);
            }
            if (work == 0) {
                checkDeadline(deadline, WAIT_STATE, 0, 0);
                idle.idle();
            } else {
                idle.reset();
            }
        }
    }

    private void sendStateRequest(int shard, long deadline) throws TimeoutException, InterruptedException {
        claimToShard(shard, GradientFrame.frameLength(0), deadline);
        int index = claim.offset();
        try {
            frame.wrapForWrite(claim.buffer(), index, claim.length())
                .header(FrameHeader.TYPE_STATE_REQUEST, spec.jobId(), stateStep, rank, shard, 0, 0, 0, 0f, 0, 0);
            // one request per shard and step: the shard in the nonce keeps it unique
            toStateRequests.seal(claim.buffer(), index, GradientFrame.HEADER_LENGTH, vector, 0, 0, stateStep, shard);
        } catch (RuntimeException e) {
            claim.abort();
            throw e;
        }
        claim.commit();
    }

    private void onState(DirectBuffer buffer, int offset, int length, Header header) {
        frame.wrap(buffer, offset, length);
        if (FrameHeader.type(buffer, offset, length) != FrameHeader.TYPE_STATE || !frame.isWellFormed()
            || frame.encoding() != WireFormat.FP32.code() || frame.jobId() != spec.jobId() || frame.step() != stateStep) {
            ignoredFrames++;
            return;
        }
        int shard = frame.shard();
        int chunks = shard >= 0 && shard < layout.shards() ? layout.chunkCount(shard) : 0;
        int pieces = spec.optimizer().rule().stateSlots() * chunks;
        int piece = frame.chunk();
        if (chunks == 0 || frame.chunkCount() != pieces || piece < 0 || piece >= pieces || frame.valueOffset() != pieceOffset(shard, piece, chunks)
            || frame.length() != layout.chunkLength(shard, piece % chunks)) {
            ignoredFrames++;
            return;
        }
        int slot = (piece / chunks) * received.length + chunkBase[shard] + piece % chunks;
        if (stateReceived[slot]) {
            ignoredFrames++;
            return;
        }
        if (!fromStates.openInto(buffer, offset, GradientFrame.HEADER_LENGTH, frame.length() * Float.BYTES, result,
            frame.valueOffset() * Float.BYTES, stateStep, frame.valueOffset())) {
            unauthenticated++;
            return;
        }
        stateReceived[slot] = true;
        stateReceivedCount++;
    }

    /** Where state piece {@code piece} (slot × chunks + chunk) of a shard starts in the slot-major vector. */
    private int pieceOffset(int shard, int piece, int chunks) {
        return Math.toIntExact((long) (piece / chunks) * layout.paramCount() + layout.chunkStart(shard, piece % chunks));
    }

    /** "; shard 1's answers failed authentication 40 times: forged or corrupted on the wire", for each such shard. */
    private String forgeries() {
        StringBuilder sb = new StringBuilder();
        for (int s = 0; s < layout.shards(); s++) {
            int failed = resends.authFailures(s);
            if (failed > 0 && receivedByShard[s] < layout.chunkCount(s)) {
                sb.append("; shard ").append(s).append("'s answers failed authentication ").append(failed)
                    .append(failed == 1 ? " time" : " times").append(": forged or corrupted on the wire");
            }
        }
        return sb.toString();
    }

    private String missingShards() {
        StringBuilder sb = new StringBuilder();
        for (int s = 0; s < layout.shards(); s++) {
            for (int c = 0; c < layout.chunkCount(s); c++) {
                if (!received[chunkBase[s] + c]) {
                    sb.append(sb.length() == 0 ? "shard " : ", shard ").append(s);
                    break;
                }
            }
        }
        return sb.toString();
    }

    /**
     * Throws once interrupted or past the deadline, naming rank, step and what was waited for; returns
     * at once otherwise. The message is only built then: this runs on every idle spin of a wait.
     */
    private void checkDeadline(long deadline, int wait, int shard, long sendResult)
        throws TimeoutException, InterruptedException {
        boolean interrupted = Thread.interrupted();
        if (!interrupted && System.nanoTime() - deadline <= 0) {
            return;
        }
        String endpoint = shard == GATHER ? "parameter-server gather endpoint" : "parameter-server shard " + shard;
        String what = switch (wait) {
            case WAIT_UPSTREAM -> "rank " + rank + ": " + endpoint + " not reachable ("
                + (shard == GATHER ? "gather channel " + gatherUpstream.channel() : "gradient channel "
                + upstream[shard].channel()) + ")";
            case WAIT_DOWNSTREAM -> "rank " + rank + ": " + endpoint + " does not send to this worker (expected on "
                + (shard == GATHER ? gatherDownstream.channel() : downstream[shard].channel(ExchangeSpec.SERVER)) + ")";
            case WAIT_SEND -> "rank " + rank + " step " + currentStep + ": shard " + shard
                + (sendResult == Publication.NOT_CONNECTED ? " not connected" : " not accepting gradients (back-pressure)");
            case WAIT_STATE -> "rank " + rank + ": optimizer state after step " + stateStep + " incomplete from the"
                + " parameter server";
            default -> "rank " + rank + " step " + currentStep + ": no " + (spec.serverOptimizer() ? "parameters"
                : "average") + " from " + missingShards() + forgeries();
        };
        if (interrupted) {
            throw new InterruptedException(what);
        }
        throw new TimeoutException(what + " within " + spec.timeoutMillis() + " ms");
    }

    /**
     * All-gather: sends {@code blob} as this rank's contribution to {@code round} and returns every
     * rank's blob of that round, indexed by rank (the same arrays' contents on every rank; the
     * arrays are fresh and the caller's). Every rank must call it with the same round, and rounds
     * must strictly increase within a job. May be called between any two gradient steps. Blobs
     * go in frames of at most one MTU each, so their size is bounded only by
     * {@link GatherFrame#MAX_BLOB_LENGTH}, not by the term length.
     *
     * @throws TimeoutException when not every rank's blob has come back within the exchange
     *         timeout; the message names the round and the ranks whose blobs never arrived
     */
    public byte[][] allGather(long round, byte[] blob) throws TimeoutException, InterruptedException {
        upload(round, blob);
        return collect();
    }

    /**
     * The first half of {@link #allGather}: sends this rank's blob of {@code round}, taking in what already comes
     * back, and returns; {@link #collect()} waits for the rest. Tests use the halves apart to play a rank that has
     * sent its blob and reads nothing yet.
     */
    public void upload(long round, byte[] blob) throws TimeoutException, InterruptedException {
        if (blob.length > GatherFrame.MAX_BLOB_LENGTH) {
            throw new IllegalArgumentException("rank " + rank + " gather round " + round + ": blob of "
                + blob.length + " bytes exceeds " + GatherFrame.MAX_BLOB_LENGTH);
        }
        if (anyRound && round <= gatherRound) {
            throw new IllegalArgumentException("rank " + rank + ": gather round " + round + " after round "
                + gatherRound + ": rounds must increase (each round's frames are sealed under nonces used once)");
        }
        long deadline = System.nanoTime() + timeoutNs;
        anyRound = true;
        gatherRound = round;
        gathered = new byte[spec.workers()][];
        Arrays.fill(gatheredBytes, 0);
        gatheredCount = 0;
        blobBuffer.wrap(blob);
        int at = 0;
        uploadEnds = new long[Math.max(1, (blob.length + gatherChunkBytes - 1) / gatherChunkBytes)];
        uploadDue = new boolean[uploadEnds.length];
        do {
            int length = Math.min(gatherChunkBytes, blob.length - at);
            sendGatherChunk(blob.length, at, length, deadline);
            at += length;
            // take in blobs the server already forwards (it sends each as soon as it is complete)
            gatherDownstream.controlledPoll(onGathered, FRAGMENT_LIMIT);
            reuploadDue(deadline);
        } while (at < blob.length);
        gatherDeadline = deadline;
    }

    /** The second half of {@link #allGather}: waits for every rank's blob of the round {@link #upload} sent. */
    public byte[][] collect() throws TimeoutException, InterruptedException {
        long deadline = gatherDeadline;
        gatherAskIntervalNs = FIRST_GATHER_ASK_NS;
        gatherAskAtNs = System.nanoTime() + gatherAskIntervalNs;
        gatherAskSeq = 0;
        while (gatheredCount < gathered.length) {
            if (gatherDownstream.controlledPoll(onGathered, FRAGMENT_LIMIT) == 0) {
                recoverGather(deadline);
                checkGatherDeadline(deadline, 0);
                idle.idle();
            } else {
                idle.reset();
            }
        }
        byte[][] result = gathered;
        gathered = null;
        blobBuffer.wrap(NO_BLOB); // the caller's blob is the caller's again
        return result;
    }

    /**
     * While blobs of the round are missing: sends again the pieces of this rank's blob the endpoint asked for
     * ({@link #onGatherAsk}), and every interval ({@value AskClock#FIRST_ASK_MS} ms, doubling to a second; sooner
     * after a bad frame) asks the endpoint to forward again, from what it has, each other rank's blob still missing (ones
     * pre-empted on the way down; a rank still computing costs a small frame per interval).
     */
    private void recoverGather(long deadline) throws TimeoutException, InterruptedException {
        reuploadDue(deadline);
        long now = System.nanoTime();
        if (now - gatherAskAtNs < 0) {
            return;
        }
        gatherAskIntervalNs = Math.min(gatherAskIntervalNs * 2, 1_000_000_000L);
        gatherAskAtNs = now + gatherAskIntervalNs;
        for (int owner = 0; owner < gathered.length; owner++) {
            byte[] blob = gathered[owner];
            if (blob == null || gatheredBytes[owner] < blob.length) { // this rank's own too: its forward may be lost
                sendGatherAsk(owner, blob == null ? 0 : gatheredBytes[owner], deadline);
            }
        }
    }

    /**
     * The gather endpoint asks this rank for pieces of its blob of the round being gathered ({@code -1}: whatever
     * round it is uploading; the endpoint opens a round only on an authenticated piece, and so may not know it), from
     * the offset it has, with how far it has read this rank's uploads: the pieces from that offset that ended there or
     * before go again (they were lost or pre-empted), under a new resend count.
     */
    private void onGatherAsk(DirectBuffer buffer, int offset, int length) {
        GradientFrame f = ask.wrap(buffer, offset, length);
        if (!f.isWellFormed() || f.length() != 2 || f.jobId() != spec.jobId() || f.resend() != 0) {
            ignoredFrames++;
            return;
        }
        if (f.rank() != rank || uploadEnds == null || (f.step() != gatherRound && f.step() != -1)) {
            return; // for a sibling worker of this JVM, or an old round
        }
        DirectBuffer plain = gatherAsksIn.open(buffer, offset, GradientFrame.HEADER_LENGTH, Long.BYTES, f.step(),
            f.valueOffset());
        if (plain == null) {
            unauthenticated++;
            return;
        }
        if (f.valueOffset() <= lastGatherAskSeq) {
            ignoredFrames++; // a replayed ask
            return;
        }
        lastGatherAskSeq = f.valueOffset();
        long readPosition = plain.getLong(0, FrameHeader.ORDER);
        for (int piece = Math.max(0, f.chunk()) / gatherChunkBytes; piece < uploadEnds.length; piece++) {
            if (uploadEnds[piece] != 0 && uploadEnds[piece] <= readPosition) {
                uploadDue[piece] = true;
                anyUploadDue = true;
            }
        }
    }

    /** Sends again the pieces of this rank's blob the endpoint asked for, as one pass under a new resend count. */
    private void reuploadDue(long deadline) throws TimeoutException, InterruptedException {
        if (!anyUploadDue || gatherUploadResends >= FrameHeader.MAX_RESENDS) {
            return;
        }
        anyUploadDue = false;
        int resend = ++gatherUploadResends; // over the job: no (round, offset, resend) nonce repeats
        int blobLength = blobBuffer.capacity();
        for (int piece = 0; piece < uploadDue.length; piece++) {
            if (uploadDue[piece]) {
                uploadDue[piece] = false;
                int at = piece * gatherChunkBytes;
                sendGatherChunk(blobLength, at, Math.min(gatherChunkBytes, blobLength - at), resend, deadline);
                gatherPiecesResent++;
            }
        }
    }

    private void sendGatherAsk(int owner, int from, long deadline) throws TimeoutException, InterruptedException {
        long r;
        while ((r = gatherUpstream.tryClaim(GradientFrame.frameLength(2), claim)) < 0) {
            if (r == Publication.CLOSED || r == Publication.MAX_POSITION_EXCEEDED) {
                throw new IllegalStateException("rank " + rank + ": gather publication unusable (" + r + ")");
            }
            checkGatherDeadline(deadline, r);
            idle.idle();
        }
        int index = claim.offset();
        try {
            int seq = gatherAskSeq++;
            askPayload.putLong(0, gatherDownstream.imageCount() == 0 ? 0 : gatherDownstream.imageAtIndex(0).position(),
                FrameHeader.ORDER);
            ask.wrapForWrite(claim.buffer(), index, claim.length())
                .header(FrameHeader.TYPE_GATHER_ASK, spec.jobId(), gatherRound, rank, owner, from, 0, 0, 0f, seq, 2);
            gatherAsks.seal(claim.buffer(), index, GradientFrame.HEADER_LENGTH, askPayload, 0, Long.BYTES, gatherRound,
                seq);
        } catch (RuntimeException e) {
            claim.abort();
            throw e;
        }
        claim.commit();
        gatherAsksSent++;
    }

    private void sendGatherChunk(int blobLength, int at, int length, long deadline)
        throws TimeoutException, InterruptedException {
        sendGatherChunk(blobLength, at, length, 0, deadline);
    }

    /** One piece of this rank's blob, the {@code resend}-th time (0: the first; each resend under its own nonce). */
    private void sendGatherChunk(int blobLength, int at, int length, int resend, long deadline)
        throws TimeoutException, InterruptedException {
        long result;
        while ((result = gatherUpstream.tryClaim(GatherFrame.frameLength(length), claim)) < 0) {
            if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED) {
                throw new IllegalStateException("rank " + rank + ": gather publication unusable (" + result + ")");
            }
            checkGatherDeadline(deadline, result);
            idle.idle();
        }
        idle.reset();
        int index = claim.offset();
        try {
            gatherFrame.wrapForWrite(claim.buffer(), index, claim.length())
                .header(FrameHeader.TYPE_GATHER, spec.jobId(), gatherRound, rank, blobLength, at, length)
                .resend(resend);
            toGather.seal(claim.buffer(), index, GatherFrame.HEADER_LENGTH, blobBuffer, at, length,
                FrameHeader.nonceStep(gatherRound, resend), at);
        } catch (RuntimeException e) {
            claim.abort();
            throw e;
        }
        claim.commit();
        uploadEnds[at / gatherChunkBytes] = result;
    }

    /**
     * Takes in one forwarded blob chunk of the round being gathered. Stops the poll (BREAK) once the
     * last blob is complete and leaves a later round's frame in place (ABORT): a faster rank may
     * already have started the next round, and its blob must still be there for the next call. A
     * piece is opened into a scratch buffer first, so only an authenticated one allocates its blob.
     */
    private Action onGathered(DirectBuffer buffer, int offset, int length, Header header) {
        if (FrameHeader.type(buffer, offset, length) == FrameHeader.TYPE_GATHER_ASK) {
            onGatherAsk(buffer, offset, length);
            return Action.CONTINUE;
        }
        GatherFrame f = gatherFrame.wrap(buffer, offset, length);
        if (gathered == null || FrameHeader.type(buffer, offset, length) != FrameHeader.TYPE_GATHERED
            || !f.isWellFormed() || f.jobId() != spec.jobId() || f.round() < gatherRound) {
            ignoredFrames++;
            return Action.CONTINUE;
        }
        if (f.round() > gatherRound) {
            return Action.ABORT;
        }
        int owner = f.rank();
        if (owner < 0 || owner >= gathered.length) {
            ignoredFrames++;
            return Action.CONTINUE;
        }
        byte[] blob = gathered[owner];
        int at = blob == null ? 0 : gatheredBytes[owner];
        int n = f.length();
        if (f.offset() != at || (blob != null && (at == blob.length || f.blobLength() != blob.length))
            || n > gatherChunkBytes) {
            ignoredFrames++; // a repeat (the server never sends one) or a frame of a gather this rank gave up on
            return Action.CONTINUE;
        }
        DirectBuffer plain = fromGather[owner].open(buffer, offset, GatherFrame.HEADER_LENGTH, n, f.nonceRound(), at);
        if (plain == null) {
            unauthenticated++;
            gatherAskAtNs = System.nanoTime() + 1_000_000L; // a forged piece took a real one's place: ask soon
            return Action.CONTINUE;
        }
        if (blob == null) {
            blob = gathered[owner] = new byte[f.blobLength()];
        }
        plain.getBytes(0, blob, at, n);
        gatheredBytes[owner] = at + n;
        if (at + n < blob.length) {
            return Action.CONTINUE;
        }
        return ++gatheredCount == gathered.length ? Action.BREAK : Action.CONTINUE;
    }

    /**
     * Throws once interrupted or past the deadline, naming the round and what was waited for:
     * the ranks whose blobs never came back ({@code sendResult == 0}) or the gather endpoint.
     * The message is only built then.
     */
    private void checkGatherDeadline(long deadline, long sendResult) throws TimeoutException, InterruptedException {
        boolean interrupted = Thread.interrupted();
        if (!interrupted && System.nanoTime() - deadline <= 0) {
            return;
        }
        String what = "rank " + rank + " gather round " + gatherRound + ": " + (sendResult == 0
            ? "no blob from rank(s) " + missingBlobs()
            : sendResult == Publication.NOT_CONNECTED ? "gather endpoint not connected"
            : "gather endpoint not accepting blobs (back-pressure)");
        if (interrupted) {
            throw new InterruptedException(what);
        }
        throw new TimeoutException(what + " within " + spec.timeoutMillis() + " ms");
    }

    private String missingBlobs() {
        StringBuilder sb = new StringBuilder();
        for (int r = 0; r < gathered.length; r++) {
            if (gathered[r] == null || gatheredBytes[r] < gathered[r].length) {
                sb.append(sb.length() == 0 ? "" : ", ").append(r);
            }
        }
        return sb.toString();
    }

    /** Samples behind the last average (all workers together). */
    public long totalSamples() { return totalSamples; }

    /** Sample-weighted mean loss of the last step over all workers. */
    public float meanLoss() { return meanLoss; }

    /** With the optimizer on the server: true when the shards skipped the last step (its gradient was not finite). */
    public boolean skipped() { return skipped; }

    /** With the optimizer on the server: the global L2 norm of the last step's averaged gradient, before clipping. */
    public float gradientNorm() { return norm; }

    /**
     * Frames this client skipped without opening them: of other jobs, older steps or rounds, repeated
     * chunks, averages of chunks not sent yet, or malformed.
     */
    public long ignoredFrames() { return ignoredFrames; }

    /** Frames of this job whose tag did not hold: forged, altered, or sealed with another key. */
    public long unauthenticatedFrames() { return unauthenticated; }

    /** This client's counts by kind, in a fixed order (the keys summary.json and the metrics use). */
    public Map<String, Long> wireCounters() {
        Map<String, Long> m = new java.util.LinkedHashMap<>();
        m.put("ignored", ignoredFrames);
        m.put("unauthenticated", unauthenticated);
        m.put("resend_asks_sent", resends.asksSent());
        m.put("resend_asks_taken", resends.asksTaken());
        m.put("chunks_resent", resends.chunksResent());
        m.put("session_restarts", resends.restarts());
        long promotions = 0;
        for (BoundSubscriptions sub : downstream) {
            promotions += sub.promotions();
        }
        m.put("answer_sessions_followed", promotions);
        m.put("gather_asks_sent", gatherAsksSent);
        m.put("gather_blobs_resent", gatherPiecesResent);
        return m;
    }

    public int rank() { return rank; }

    /** The rounding residual the next step's gradient value {@code i} carries (16-bit wire; else 0). */
    public float residual(int i) {
        return residual == null ? 0f : residual.getFloat(i * Float.BYTES);
    }

    @Override
    public void close() {
        CloseHelper.closeAll(upstream);
        CloseHelper.closeAll(downstream);
        CloseHelper.closeAll(gatherUpstream, gatherDownstream);
    }
}
