package io.lockstep.ps;

import io.aeron.Aeron;
import io.aeron.ExclusivePublication;
import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.ControlledFragmentHandler;
import io.aeron.logbuffer.ControlledFragmentHandler.Action;
import io.aeron.logbuffer.FragmentHandler;
import io.aeron.logbuffer.Header;
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
 * A worker's side of the exchange: sends its batch's mean gradient, chunk by chunk, straight from
 * the off-heap gradient vector into Aeron's log buffers, then waits for every shard's average
 * and copies it back over the same vector. One instance per worker, used by one thread.
 *
 * <p>The same client runs all-gathers of small opaque blobs ({@link #allGather}) on streams of
 * their own, so gradient steps and gathers interleave in whatever order the caller uses.
 */
public final class GradientClient implements AutoCloseable {
    private static final int FRAGMENT_LIMIT = 16;
    /** What a wait is for, so that its deadline message is only built once it has passed. */
    private static final int WAIT_SHARD = 0;
    private static final int WAIT_GATHER_ENDPOINT = 1;
    private static final int WAIT_SEND = 2;
    private static final int WAIT_AVERAGES = 3;
    /** (job, host) → the ports this JVM's workers receive on: averages by shard, then gathered blobs. */
    private static final Map<String, int[]> RECEIVE_PORTS = new ConcurrentHashMap<>();

    private final ExchangeSpec spec;
    private final ShardLayout layout;
    private final int rank;
    private final ExclusivePublication[] upstream;
    private final Subscription[] downstream;
    private final boolean[] received;
    private final int[] chunkBase;
    private final BufferClaim claim = new BufferClaim();
    private final GradientFrame frame = new GradientFrame();
    private final UnsafeBuffer vector = new UnsafeBuffer(0, 0);
    private final IdleStrategy idle = IdleStrategies.client();
    private final FragmentHandler onAverage = this::onAverage;
    private final long timeoutNs;
    private final ExclusivePublication gatherUpstream;
    private final Subscription gatherDownstream;
    private final GatherFrame gatherFrame = new GatherFrame();
    private final ControlledFragmentHandler onGathered = this::onGathered;
    private final int gatherChunkBytes;
    private final int[] gatheredBytes;

    private long currentStep;
    private int receivedCount;
    private long totalSamples;
    private float meanLoss;
    private long ignoredFrames;
    private long gatherRound;
    private byte[][] gathered; // by rank, for the round being gathered
    private int gatheredCount;

    public GradientClient(Aeron aeron, ExchangeSpec spec, int rank, String workerHost) {
        GradientFrame.requireLittleEndian();
        this.spec = spec;
        this.layout = spec.layout();
        this.rank = rank;
        this.timeoutNs = TimeUnit.MILLISECONDS.toNanos(spec.timeoutMillis());
        int shards = layout.shards();
        upstream = new ExclusivePublication[shards];
        downstream = new Subscription[shards];
        chunkBase = new int[shards];
        int total = 0;
        for (int s = 0; s < shards; s++) {
            chunkBase[s] = total;
            total += layout.chunkCount(s);
        }
        received = new boolean[total];
        gatherChunkBytes = ExchangeSpec.gatherChunkBytesFor(spec.mtu());
        gatheredBytes = new int[spec.workers()];
        try {
            for (int s = 0; s < shards; s++) {
                downstream[s] = aeron.addSubscription(
                    spec.downstreamSubscriptionChannel(s, workerHost, receivePort(spec, s, workerHost)),
                    spec.downstreamStream(s));
                upstream[s] = aeron.addExclusivePublication(spec.upstreamChannel(s), spec.upstreamStream(s));
            }
            gatherDownstream = aeron.addSubscription(
                spec.gatherDownstreamSubscriptionChannel(workerHost, receivePort(spec, shards, workerHost)),
                ExchangeSpec.GATHER_DOWNSTREAM_STREAM);
            gatherUpstream = aeron.addExclusivePublication(spec.gatherUpstreamChannel(),
                ExchangeSpec.GATHER_UPSTREAM_STREAM);
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

    /**
     * Waits until every shard and the gather endpoint can hear this worker, and this worker can
     * hear them.
     */
    public void awaitConnected() throws TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + timeoutNs;
        for (int s = 0; s < layout.shards(); s++) {
            while (!upstream[s].isConnected() || !downstream[s].isConnected()) {
                checkDeadline(deadline, WAIT_SHARD, s, 0);
                idle.idle();
            }
        }
        while (!gatherUpstream.isConnected() || !gatherDownstream.isConnected()) {
            checkDeadline(deadline, WAIT_GATHER_ENDPOINT, 0, 0);
            idle.idle();
        }
        idle.reset();
    }

    /**
     * Sends the mean gradient of a {@code samples}-sample batch for {@code step}, read from the float
     * vector at {@code address}, and overwrites that vector with the sample-weighted average.
     * With {@code samples == 0} (an exhausted shard) empty frames keep the step in lockstep.
     */
    public void exchange(long step, long address, int samples, float loss)
        throws TimeoutException, InterruptedException {
        vector.wrap(address, layout.paramCount() * Float.BYTES);
        currentStep = step;
        java.util.Arrays.fill(received, false);
        receivedCount = 0;
        long deadline = System.nanoTime() + timeoutNs;
        for (int s = 0; s < layout.shards(); s++) {
            int chunks = layout.chunkCount(s);
            for (int c = 0; c < chunks; c++) {
                send(s, c, chunks, samples, loss, deadline);
                // take in averages that are already back; safe because a chunk's average
                // only exists once this worker's own copy of that chunk has gone out
                pollAverages();
            }
        }
        while (receivedCount < received.length) {
            int work = pollAverages();
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
        for (Subscription sub : downstream) {
            work += sub.poll(onAverage, FRAGMENT_LIMIT);
        }
        return work;
    }

    private void send(int shard, int chunk, int chunks, int samples, float loss, long deadline)
        throws TimeoutException, InterruptedException {
        int start = layout.chunkStart(shard, chunk);
        int length = samples == 0 ? 0 : layout.chunkLength(shard, chunk);
        ExclusivePublication pub = upstream[shard];
        long result;
        while ((result = pub.tryClaim(GradientFrame.frameLength(length), claim)) < 0) {
            if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED) {
                throw new IllegalStateException("rank " + rank + ": gradient publication to shard " + shard
                    + " unusable (" + result + ")");
            }
            checkDeadline(deadline, WAIT_SEND, shard, result);
            idle.idle();
        }
        idle.reset();
        int index = claim.offset();
        frame.wrapForWrite(claim.buffer(), index, claim.length())
            .header(spec.jobId(), currentStep, rank, shard, chunk, chunks, samples, loss, start, length);
        if (length > 0) {
            claim.buffer().putBytes(index + GradientFrame.HEADER_LENGTH, vector, start * Float.BYTES,
                length * Float.BYTES);
        }
        claim.commit();
    }

    private void onAverage(org.agrona.DirectBuffer buffer, int offset, int length, io.aeron.logbuffer.Header header) {
        frame.wrap(buffer, offset, length);
        if (!frame.isWellFormed() || frame.jobId() != spec.jobId() || frame.step() != currentStep) {
            ignoredFrames++;
            return;
        }
        int shard = frame.shard();
        int chunk = frame.chunk();
        if (shard < 0 || shard >= layout.shards() || chunk < 0 || chunk >= layout.chunkCount(shard)
            || frame.valueOffset() != layout.chunkStart(shard, chunk)
            || frame.length() != layout.chunkLength(shard, chunk)) {
            ignoredFrames++;
            return;
        }
        int slot = chunkBase[shard] + chunk;
        if (received[slot]) {
            ignoredFrames++;
            return;
        }
        received[slot] = true;
        receivedCount++;
        totalSamples = frame.samples();
        meanLoss = frame.loss();
        vector.putBytes(frame.valueOffset() * Float.BYTES, buffer, frame.valuesIndex(), frame.length() * Float.BYTES);
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
        String what = switch (wait) {
            case WAIT_SHARD -> "rank " + rank + ": parameter-server shard " + shard + " not reachable ("
                + (upstream[shard].isConnected() ? "no averages channel " + downstream[shard].channel()
                : "gradient channel " + upstream[shard].channel()) + ")";
            case WAIT_GATHER_ENDPOINT -> "rank " + rank + ": parameter-server gather endpoint not reachable ("
                + (gatherUpstream.isConnected() ? "no gathered-blobs channel " + gatherDownstream.channel()
                : "gather channel " + gatherUpstream.channel()) + ")";
            case WAIT_SEND -> "rank " + rank + " step " + currentStep + ": shard " + shard
                + (sendResult == Publication.NOT_CONNECTED ? " not connected" : " not accepting gradients (back-pressure)");
            default -> "rank " + rank + " step " + currentStep + ": no average from " + missingShards();
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
        if (blob.length > GatherFrame.MAX_BLOB_LENGTH) {
            throw new IllegalArgumentException("rank " + rank + " gather round " + round + ": blob of "
                + blob.length + " bytes exceeds " + GatherFrame.MAX_BLOB_LENGTH);
        }
        long deadline = System.nanoTime() + timeoutNs;
        gatherRound = round;
        gathered = new byte[spec.workers()][];
        Arrays.fill(gatheredBytes, 0);
        gatheredCount = 0;
        int at = 0;
        do {
            int length = Math.min(gatherChunkBytes, blob.length - at);
            sendGatherChunk(blob, at, length, deadline);
            at += length;
            // take in blobs the server already forwards (it sends each as soon as it is complete)
            gatherDownstream.controlledPoll(onGathered, FRAGMENT_LIMIT);
        } while (at < blob.length);
        while (gatheredCount < gathered.length) {
            if (gatherDownstream.controlledPoll(onGathered, FRAGMENT_LIMIT) == 0) {
                checkGatherDeadline(deadline, 0);
                idle.idle();
            } else {
                idle.reset();
            }
        }
        byte[][] result = gathered;
        gathered = null;
        return result;
    }

    private void sendGatherChunk(byte[] blob, int at, int length, long deadline)
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
        gatherFrame.wrapForWrite(claim.buffer(), index, claim.length())
            .header(spec.jobId(), gatherRound, rank, blob.length, at, length);
        claim.buffer().putBytes(index + GatherFrame.HEADER_LENGTH, blob, at, length);
        claim.commit();
    }

    /**
     * Takes in one forwarded blob chunk of the round being gathered. Stops the poll (BREAK) once the
     * last blob is complete and leaves a later round's frame in place (ABORT): a faster rank may
     * already have started the next round, and its blob must still be there for the next call.
     */
    private Action onGathered(DirectBuffer buffer, int offset, int length, Header header) {
        GatherFrame f = gatherFrame.wrap(buffer, offset, length);
        if (gathered == null || !f.isWellFormed() || f.jobId() != spec.jobId() || f.round() < gatherRound) {
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
        if (f.offset() != at || (blob != null && (at == blob.length || f.blobLength() != blob.length))) {
            ignoredFrames++; // a repeat (the server never sends one) or a frame of a gather this rank gave up on
            return Action.CONTINUE;
        }
        if (blob == null) {
            blob = gathered[owner] = new byte[f.blobLength()];
        }
        int n = f.length();
        buffer.getBytes(f.bytesIndex(), blob, at, n);
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

    /** Frames of other jobs, older steps or rounds, or repeated chunks that this client skipped. */
    public long ignoredFrames() { return ignoredFrames; }

    public int rank() { return rank; }

    @Override
    public void close() {
        CloseHelper.closeAll(upstream);
        CloseHelper.closeAll(downstream);
        CloseHelper.closeAll(gatherUpstream, gatherDownstream);
    }
}
