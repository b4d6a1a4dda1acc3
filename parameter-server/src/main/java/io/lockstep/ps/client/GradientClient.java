package io.lockstep.ps.client;

import io.aeron.Aeron;
import io.aeron.ExclusivePublication;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.GatherFrame;
import io.lockstep.ps.wire.GradientFrame;

import java.util.LinkedHashMap;
import java.util.Map;
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
    private final ClientConnection connection;
    private final StepChannel steps;
    private final StateChannel state;
    private final GatherChannel gather;

    public GradientClient(Aeron aeron, ExchangeSpec spec, int rank, String workerHost) {
        GradientFrame.requireLittleEndian();
        connection = new ClientConnection(aeron, spec, rank, workerHost);
        try {
            steps = new StepChannel(connection);
            state = new StateChannel(connection, steps);
            gather = new GatherChannel(connection);
        } catch (RuntimeException e) {
            connection.close();
            throw e;
        }
    }

    /** The publication to shard {@code shard} (tests: an on-path attacker knows its session and position). */
    public ExclusivePublication upstreamPublication(int shard) {
        return connection.upstream(shard);
    }

    /** The publication to the gather endpoint (tests: what an on-path attacker sees). */
    public ExclusivePublication gatherUpstreamPublication() {
        return connection.gatherUpstream();
    }

    /** The endpoint this JVM receives shard {@code s}'s averages on ({@code layout.shards()}: the gathered blobs). */
    public String receiveEndpoint(int index) {
        return connection.receiveEndpoint(index);
    }

    /**
     * Joins the job: waits until every shard and the gather endpoint can hear this worker, tells each
     * (over UDP) where this worker's JVM receives, in an authenticated JOIN frame, and waits until each
     * sends there. Only then may the first gradient go out: averages are published only once every
     * rank's gradients are in, so every worker's image exists before any average is sent.
     */
    public void awaitConnected() throws TimeoutException, InterruptedException {
        connection.awaitConnected();
    }

    /**
     * Sends the mean gradient of a {@code samples}-sample batch for {@code step}, read from the float
     * vector at {@code address}, and overwrites that vector with the sample-weighted average.
     * With {@code samples == 0} (an exhausted shard) empty frames keep the step in lockstep.
     * Steps must strictly increase.
     */
    public void exchange(long step, long address, int samples, float loss)
        throws TimeoutException, InterruptedException {
        if (connection.spec.serverOptimizer()) {
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
     * ({@code AeronGroupExchange}); every rank still takes every shard's answer.
     */
    public void exchange(long step, long address, int samples, float loss, long resultAddress, long shardMask)
        throws TimeoutException, InterruptedException {
        steps.exchange(step, address, samples, loss, resultAddress, shardMask);
    }

    /**
     * With the optimizer on the server: writes every shard's optimizer state after {@code step} (the last
     * step exchanged) to the float vector at {@code address}, slot-major ({@code slots × paramCount} floats:
     * slot k of parameter i at k·paramCount + i). For a checkpoint; once per step (the shards answer once).
     */
    public void fetchState(long step, long address) throws TimeoutException, InterruptedException {
        state.fetchState(step, address);
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
        gather.upload(round, blob);
    }

    /** The second half of {@link #allGather}: waits for every rank's blob of the round {@link #upload} sent. */
    public byte[][] collect() throws TimeoutException, InterruptedException {
        return gather.collect();
    }

    /** Samples behind the last average (all workers together). */
    public long totalSamples() { return steps.totalSamples(); }

    /** Sample-weighted mean loss of the last step over all workers. */
    public float meanLoss() { return steps.meanLoss(); }

    /** With the optimizer on the server: true when the shards skipped the last step (its gradient was not finite). */
    public boolean skipped() { return steps.skipped(); }

    /** With the optimizer on the server: the global L2 norm of the last step's averaged gradient, before clipping. */
    public float gradientNorm() { return steps.gradientNorm(); }

    /**
     * Frames this client skipped without opening them: of other jobs, older steps or rounds, repeated
     * chunks, averages of chunks not sent yet, or malformed.
     */
    public long ignoredFrames() { return connection.ignoredFrames; }

    /** Frames of this job whose tag did not hold: forged, altered, or sealed with another key. */
    public long unauthenticatedFrames() { return connection.unauthenticated; }

    /** This client's counts by kind, in a fixed order (the keys summary.json and the metrics use). */
    public Map<String, Long> wireCounters() {
        ClientResends resends = steps.resends();
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("ignored", connection.ignoredFrames);
        m.put("unauthenticated", connection.unauthenticated);
        m.put("resend_asks_sent", resends.asksSent());
        m.put("resend_asks_taken", resends.asksTaken());
        m.put("chunks_resent", resends.chunksResent());
        m.put("session_restarts", resends.restarts());
        m.put("answer_sessions_followed", connection.promotions());
        m.put("gather_asks_sent", gather.asksSent());
        m.put("gather_blobs_resent", gather.piecesResent());
        return m;
    }

    public int rank() { return connection.rank; }

    /** The rounding residual the next step's gradient value {@code i} carries (16-bit wire; else 0). */
    public float residual(int i) {
        return steps.residual(i);
    }

    /**
     * Reads and drops whatever the shards and the all-gather endpoint sent this client; returns how many fragments.
     * A rank that has finished calls it while it waits for the others: the shards answer every worker JVM on one
     * publication, which waits for its slowest reader, so a rank that stopped reading would hold back what another
     * rank still fetches (rank 0's optimizer state for its last checkpoint). Never while this client exchanges.
     */
    public int drain() {
        int work = 0;
        for (int s = 0; s < connection.layout.shards(); s++) {
            work += connection.downstream(s).poll(DISCARD, ClientConnection.FRAGMENT_LIMIT);
        }
        return work + connection.gatherDownstream().poll(DISCARD, ClientConnection.FRAGMENT_LIMIT);
    }

    private static final io.aeron.logbuffer.FragmentHandler DISCARD = (buffer, offset, length, header) -> { };

    @Override
    public void close() {
        connection.close();
    }
}
