package io.lockstep.ps;

import io.aeron.Publication;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.FragmentHandler;
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
    private final BufferClaim claim = new BufferClaim();
    private final GatherFrame out = new GatherFrame();
    private final FragmentHandler onFragment;
    private final WaitingBoard board;
    private final int boardSlot;
    private final long allRanks;
    private long publishedRound = -1;
    private int publishedMissing = -1;

    private int sent;       // ready blobs fully forwarded this round
    private int sentBytes;  // bytes of the next ready blob already forwarded
    private boolean open;   // a round is open: its deadline runs
    private long openedNs;
    private boolean blocked;
    private long blockedNs;
    private long blockedResult;

    GatherAgent(GatherAggregator aggregator, BoundSubscriptions upstream, Publication downstream, Destinations destinations,
                long jobId, int workers, int mtu, JobSecret secret, long timeoutMillis, DropCounters drops,
                GatherListener listener, WaitingBoard board, int boardSlot, StepListener stepReports) {
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
        this.onFragment = Destinations.router(destinations, drops, stepReports == null ? aggregator::onFrame
            : StepReporter.receiver(jobId, secret, stepReports, drops, aggregator::onFrame));
        this.board = board;
        this.boardSlot = boardSlot;
        this.allRanks = WaitingBoard.allRanks(workers);
        publishWaiting();
    }

    @Override
    public int doWork() {
        int work = aggregator.isComplete() ? 0 : upstream.poll(onFragment, FRAGMENT_LIMIT);
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
        if (blocked && now - blockedNs > timeoutNs) {
            throw new AgentTerminationException("parameter-server gather round " + aggregator.round()
                + ": the workers took no blobs within " + TimeUnit.NANOSECONDS.toMillis(timeoutNs) + " ms ("
                + (blockedResult == Publication.NOT_CONNECTED ? "no receiver connected" : "back-pressure") + ")");
        }
    }

    private int forwardReadyBlobs() {
        int work = 0;
        while (sent < aggregator.readyCount()) {
            int rank = aggregator.readyRank(sent);
            byte[] blob = aggregator.blobs()[rank];
            int length = Math.min(chunkBytes, blob.length - sentBytes);
            long result = downstream.tryClaim(GatherFrame.frameLength(length), claim);
            if (result < 0) {
                if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED) {
                    throw new AgentTerminationException("parameter-server gather downstream publication unusable: "
                        + result);
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
            try {
                out.wrapForWrite(claim.buffer(), index, claim.length())
                    .header(FrameHeader.TYPE_GATHERED, jobId, aggregator.round(), rank, blob.length, sentBytes, length);
                if (blobBuffer.byteArray() != blob) {
                    blobBuffer.wrap(blob);
                }
                toOwner[rank].seal(claim.buffer(), index, GatherFrame.HEADER_LENGTH, blobBuffer, sentBytes, length,
                    aggregator.round(), sentBytes);
            } catch (RuntimeException e) {
                claim.abort(); // never leave a claim open: it would block the publication
                throw new AgentTerminationException(e);
            }
            claim.commit();
            work++;
            sentBytes += length;
            if (sentBytes == blob.length) { // an empty blob still goes out as one empty frame
                sent++;
                sentBytes = 0;
            }
        }
        if (aggregator.isComplete()) {
            long round = aggregator.round();
            byte[][] blobs = aggregator.blobs();
            aggregator.advance(); // first, so a listener that throws cannot stall the next round
            sent = 0;
            open = false;
            blobBuffer.wrap(NO_BLOB); // let the round's blobs go
            listener.onGathered(round, blobs);
        }
        return work;
    }

    @Override
    public String roleName() {
        return "lockstep-ps-gather";
    }
}
