package io.lockstep.ps.server;

import io.aeron.Publication;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.FragmentHandler;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.session.BoundSubscriptions;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GatherFrame;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.JobSecret;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.Agent;
import org.agrona.concurrent.AgentTerminationException;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.concurrent.TimeUnit;

/**
 * Duty cycle of the all-gather endpoint: collect the blobs of the open round from the upstream
 * subscription and forward each one, in chunks, to every worker as soon as it is complete
 * (resuming on the next cycle when back-pressured), so the uploads of slow ranks overlap the
 * downloads of the others and a waiting worker can tell which ranks' blobs never came. Once every
 * blob is out, the round goes to the {@link GatherListener} and the next one may open. Each rank's
 * blob goes out sealed with that rank's GATHERED key ({@link FrameCipher}); JOIN frames on the gather
 * channel go to the {@link Destinations} of the gathered-blobs publication.
 *
 * <p>Pieces lost or forged over on the wire are asked for again, both ways: the endpoint asks a rank whose blob is
 * not all in (after a bad frame on its session, or silence) for its pieces, with how far it has read them
 * ({@link GatherAsks}); a worker asks for a rank's forwarded blob, which goes out again if it ended below the worker's
 * read position.
 *
 * <p>Runs in the same thread as shard 0's {@link ShardAgent} (a composite agent): gathers are
 * rare, and on small machines a thread of their own would only compete with training.
 *
 * <p>Deadlines as for a shard: once a round is open every rank's blob must be in within the stall
 * budget, and a ready blob must be taken by the workers within it; past either, the agent stops
 * naming the round and the ranks it waited for.
 */
final class GatherAgent implements Agent {
    private static final int FRAGMENT_LIMIT = 64;
    private static final byte[] NO_BLOB = new byte[0];

    private final GatherAggregator aggregator;
    private final BoundSubscriptions upstream;
    private final Publication downstream;
    private final long jobId;
    private final int chunkBytes;
    private final GatherListener listener;
    private final long timeoutNs;
    private final FrameCipher[] toOwner;
    private final DropCounters drops;
    private final UnsafeBuffer blobBuffer = new UnsafeBuffer(NO_BLOB); // the blob being forwarded
    private final ClaimGate gate = new ClaimGate("parameter-server gather");
    private final BufferClaim claim = gate.claim;
    private final GatherFrame out = new GatherFrame();
    private final FragmentHandler onFragment;
    private final WaitingBoard board;
    private final int boardSlot;
    private final long allRanks;
    private long publishedRound = -1;
    private int publishedMissing = -1;

    private final FrameCipher[] asksFromRank;
    private final GatherAsks asks;            // this endpoint's asks to the ranks
    private final GradientFrame askFrame = new GradientFrame();
    private final long[] lastAskSeq;  // by asker: the last ask taken for lastAskRound
    private long lastAskRound = -1;
    private final int[] resendFrom;   // by owner: forward its blob again from this offset (-1: nothing to do)
    private long resendRound = -1;    // the round resendFrom is for
    private byte[][] lastBlobs;       // the last completed round's blobs, for asks that come after it
    private long lastRound = -1;
    private long lastEnd;             // stream position after the last piece that went out
    private long[] endOpen;           // by owner: stream position after its blob's last piece of the open round went out
    private long[] endLast;           // the same for the last completed round
    private final int[] resendCount;  // by owner, over the job: passes of forwarding again (each its own nonces)
    private final int[] resendCountAt; // by owner: the count whose pass is complete
    private final ResendCounters resendCounters;

    private int sent;       // ready blobs fully forwarded this round
    private int sentBytes;  // bytes of the next ready blob already forwarded
    private boolean open;   // a round is open: its deadline runs
    private long openedNs;

    GatherAgent(GatherAggregator aggregator, BoundSubscriptions upstream, Publication downstream, Destinations destinations,
                long jobId, int workers, int mtu, JobSecret secret, long timeoutMillis, DropCounters drops,
                GatherListener listener, WaitingBoard board, int boardSlot, StepListener stepReports,
                ResendCounters resendCounters) {
        this.resendCounters = resendCounters;
        this.aggregator = aggregator;
        this.upstream = upstream;
        this.downstream = downstream;
        this.jobId = jobId;
        this.chunkBytes = ExchangeSpec.gatherChunkBytesFor(mtu);
        this.listener = listener;
        this.timeoutNs = TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        this.drops = drops;
        this.toOwner = FrameCipher.perRank(secret, jobId, FrameHeader.TYPE_GATHERED, workers, new FrameCipher.Scratch());
        // shards elsewhere (on the executors): shard 0's step reports come in here too
        Destinations.FrameSink blobs = stepReports == null ? this::onBlobOrAsk
            : StepReporter.receiver(jobId, secret, stepReports, drops, this::onBlobOrAsk);
        this.onFragment = Destinations.router(destinations, drops, blobs);
        this.asksFromRank = FrameCipher.perRank(secret, jobId, FrameHeader.TYPE_GATHER_ASK, workers,
            new FrameCipher.Scratch());
        this.lastAskSeq = new long[workers];
        this.asks = new GatherAsks(aggregator, upstream, downstream, claim, resendCounters, jobId, secret, workers);
        this.resendFrom = new int[workers];
        this.resendCount = new int[workers];
        this.endOpen = new long[workers];
        this.endLast = new long[workers];
        this.resendCountAt = new int[workers];
        java.util.Arrays.fill(resendFrom, -1);
        this.board = board;
        this.boardSlot = boardSlot;
        this.allRanks = WaitingBoard.allRanks(workers);
        publishWaiting();
    }

    /**
     * A worker asks for one rank's blob again, from an offset: forwarded again (under a fresh resend count) if that
     * blob is complete, of the round being sent or of the one just finished.
     */
    private void onBlobOrAsk(DirectBuffer buffer, int offset, int length) {
        if (FrameHeader.type(buffer, offset, length) != FrameHeader.TYPE_GATHER_ASK) {
            int sender = upstream.sender();
            if (sender >= lastAskSeq.length) {
                aggregator.onFrame(buffer, offset, length); // the step reporter's session: not a rank's
                return;
            }
            switch (aggregator.onFrame(buffer, offset, length)) {
                case ACCEPTED, BLOB_READY, COMPLETED -> asks.onProgress(sender, System.nanoTime());
                case UNAUTHENTICATED, MALFORMED -> asks.onBadFrame(sender);
                default -> { }
            }
            return;
        }
        GradientFrame f = askFrame.wrap(buffer, offset, length);
        int asker = upstream.sender();
        if (!f.isWellFormed() || f.length() != 2 || f.jobId() != jobId || f.rank() != asker || f.shard() < 0
            || f.shard() >= lastAskSeq.length || f.chunk() < 0) {
            drops.recordMalformed();
            return;
        }
        long round = f.step();
        boolean open = aggregator.isOpen() && round == aggregator.round();
        if (!open && round != lastRound) {
            drops.record(GatherAggregator.Outcome.STALE_ROUND);
            return;
        }
        DirectBuffer plain = asksFromRank[asker].open(buffer, offset, GradientFrame.HEADER_LENGTH, Long.BYTES, round,
            f.valueOffset());
        if (plain == null) {
            drops.record(GatherAggregator.Outcome.UNAUTHENTICATED);
            return;
        }
        long readPosition = plain.getLong(0, FrameHeader.ORDER);
        if (round != lastAskRound) {
            lastAskRound = round;
            java.util.Arrays.fill(lastAskSeq, -1);
        }
        if (f.valueOffset() <= lastAskSeq[asker]) {
            drops.record(GatherAggregator.Outcome.STALE_ROUND); // a replayed ask
            return;
        }
        lastAskSeq[asker] = f.valueOffset();
        int owner = f.shard();
        byte[] blob = open ? forwarded(owner) : lastBlobs[owner];
        long end = (open ? endOpen : endLast)[owner];
        if (blob == null || f.chunk() > blob.length || end > readPosition) {
            return; // not forwarded yet, or still on its way to the asker: it comes in its turn
        }
        if (resendRound != round) {
            java.util.Arrays.fill(resendFrom, -1);
            resendRound = round;
        }
        int from = f.chunk() / chunkBytes * chunkBytes;
        if (resendFrom[owner] >= 0 && from < resendFrom[owner]) {
            resendCountAt[owner] = resendCount[owner]; // going back over pieces sent in this pass: a new pass, new nonces
        }
        resendFrom[owner] = resendFrom[owner] < 0 ? from : Math.min(resendFrom[owner], from);
    }

    /** The open round's blob of {@code owner} if it has been forwarded in full, else null. */
    private byte[] forwarded(int owner) {
        for (int i = 0; i < sent; i++) {
            if (aggregator.readyRank(i) == owner) {
                return aggregator.blobs()[owner];
            }
        }
        return null;
    }

    /** Forwards again the blobs workers asked for; false stops this cycle (back-pressured). */
    private int forwardAgain() {
        int work = 0;
        for (int owner = 0; owner < resendFrom.length; owner++) {
            if (resendFrom[owner] < 0) {
                continue;
            }
            boolean open = aggregator.isOpen() && resendRound == aggregator.round();
            byte[] blob = open ? forwarded(owner) : resendRound == lastRound ? lastBlobs[owner] : null;
            if (blob == null) {
                resendFrom[owner] = -1;
                continue;
            }
            if (resendCount[owner] == resendCountAt[owner]) { // a new pass over this blob: a new resend count
                if (resendCount[owner] == FrameHeader.MAX_RESENDS) {
                    resendFrom[owner] = -1;
                    continue;
                }
                resendCount[owner]++;
            }
            while (resendFrom[owner] >= 0) {
                int at = resendFrom[owner];
                int length = Math.min(chunkBytes, blob.length - at);
                if (!forwardPiece(resendRound, owner, blob, at, length, resendCount[owner])) {
                    return work;
                }
                work++;
                resendCounters.answerResent();
                resendFrom[owner] = at + length < blob.length ? at + length : -1;
            }
            resendCountAt[owner] = resendCount[owner];
        }
        return work;
    }

    @Override
    public int doWork() {
        int work = aggregator.isComplete() ? 0 : upstream.poll(onFragment, FRAGMENT_LIMIT);
        if (open != aggregator.isOpen() && aggregator.isOpen()) {
            asks.onRoundOpened(System.nanoTime()); // the round opened: every rank's silence from now
        }
        work += asks.askForMissing();
        work += forwardAgain();
        if (!open && aggregator.isOpen()) {
            open = true;
            openedNs = System.nanoTime();
        }
        work += forwardReadyBlobs();
        if (open) { // every cycle: a flood of junk frames must not postpone it
            checkDeadlines();
        }
        publishWaiting();
        return work;
    }

    /**
     * Tells other threads which ranks' blobs the open round still waits for ({@link WaitingBoard}), when
     * that changed; nothing while no round is open or once every blob is in.
     */
    private void publishWaiting() {
        boolean waiting = aggregator.isOpen() && aggregator.blobs() != null && !aggregator.isComplete();
        int ready = aggregator.readyCount();
        int missing = waiting ? aggregator.workers() - ready : 0;
        long round = aggregator.round();
        if (round == publishedRound && missing == publishedMissing) {
            return;
        }
        long mask = 0;
        if (waiting) {
            mask = allRanks;
            for (int i = 0; i < ready; i++) {
                mask &= ~WaitingBoard.bit(aggregator.readyRank(i));
            }
        }
        board.publish(boardSlot, round, mask, missing);
        publishedRound = round;
        publishedMissing = missing;
    }

    private void checkDeadlines() {
        long now = System.nanoTime();
        if (!aggregator.isComplete() && now - openedNs > timeoutNs) {
            throw new AgentTerminationException("parameter-server gather round " + aggregator.round()
                + ": no blob from rank(s) " + aggregator.missingRanks() + " within "
                + TimeUnit.NANOSECONDS.toMillis(timeoutNs) + " ms");
        }
        if (gate.blockedLongerThan(now, timeoutNs)) {
            throw new AgentTerminationException("parameter-server gather round " + aggregator.round()
                + ": the workers took no blobs within " + TimeUnit.NANOSECONDS.toMillis(timeoutNs) + " ms ("
                + gate.refusal() + ")");
        }
    }

    private int forwardReadyBlobs() {
        int work = 0;
        while (sent < aggregator.readyCount()) {
            int rank = aggregator.readyRank(sent);
            byte[] blob = aggregator.blobs()[rank];
            int length = Math.min(chunkBytes, blob.length - sentBytes);
            if (!forwardPiece(aggregator.round(), rank, blob, sentBytes, length, 0)) {
                return work; // back-pressured or no subscriber yet: retry on the next duty cycle
            }
            work++;
            sentBytes += length;
            if (sentBytes == blob.length) { // an empty blob still goes out as one empty frame
                sent++;
                sentBytes = 0;
                endOpen[rank] = lastEnd;
            }
        }
        if (aggregator.isComplete()) {
            long round = aggregator.round();
            byte[][] blobs = aggregator.blobs();
            lastBlobs = blobs; // workers may still ask for one of them
            lastRound = round;
            long[] ends = endLast;
            endLast = endOpen;
            endOpen = ends;
            java.util.Arrays.fill(endOpen, 0);
            aggregator.advance(); // first, so a listener that throws cannot stall the next round
            sent = 0;
            open = false;
            blobBuffer.wrap(NO_BLOB); // let the round's blobs go
            listener.onGathered(round, blobs);
        }
        return work;
    }

    /**
     * One piece of {@code owner}'s blob of {@code round}, sealed into a claim of the downstream publication, the
     * {@code resend}-th time (0: the first; the count enters the nonce). False when refused.
     */
    private boolean forwardPiece(long round, int owner, byte[] blob, int at, int length, int resend) {
        long result = gate.tryClaim(downstream, GatherFrame.frameLength(length));
        if (result < 0) {
            return false;
        }
        int index = claim.offset();
        try {
            out.wrapForWrite(claim.buffer(), index, claim.length())
                .header(FrameHeader.TYPE_GATHERED, jobId, round, owner, blob.length, at, length).resend(resend);
            if (blobBuffer.byteArray() != blob) {
                blobBuffer.wrap(blob);
            }
            toOwner[owner].seal(claim.buffer(), index, GatherFrame.HEADER_LENGTH, blobBuffer, at, length,
                FrameHeader.nonceStep(round, resend), at);
        } catch (RuntimeException e) {
            claim.abort(); // never leave a claim open: it would block the publication
            throw new AgentTerminationException(e);
        }
        claim.commit();
        lastEnd = result;
        return true;
    }

    @Override
    public String roleName() {
        return "lockstep-ps-gather";
    }
}
