package io.lockstep.ps.client;

import io.aeron.Subscription;
import io.aeron.logbuffer.ControlledFragmentHandler;
import io.aeron.logbuffer.ControlledFragmentHandler.Action;
import io.aeron.logbuffer.Header;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.session.AskClock;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GatherFrame;
import io.lockstep.ps.wire.GradientFrame;
import org.agrona.BufferUtil;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.Arrays;
import java.util.concurrent.TimeoutException;

/**
 * All-gathers of small opaque blobs on streams of their own, so gradient steps and gathers interleave in whatever
 * order the caller uses: this rank's blob goes to the gather endpoint in pieces of at most one MTU, and every
 * rank's comes back. Pieces lost or pre-empted on the wire are recovered both ways: the endpoint asks this rank for
 * pieces of its blob again, and this rank asks the endpoint to forward again what it lacks.
 */
final class GatherChannel {
    private static final byte[] NO_BLOB = new byte[0];
    private static final long FIRST_GATHER_ASK_NS = AskClock.FIRST_ASK_MS * 1_000_000L;

    private final ClientConnection c;
    private final int rank;
    private final GatherFrame gatherFrame = new GatherFrame();
    private final GradientFrame ask = new GradientFrame();
    private final ControlledFragmentHandler onGathered = this::onGathered;
    private final int gatherChunkBytes;
    private final int[] gatheredBytes;
    private final UnsafeBuffer blobBuffer = new UnsafeBuffer(NO_BLOB);
    private final UnsafeBuffer askPayload = new UnsafeBuffer(BufferUtil.allocateDirectAligned(Long.BYTES, 8));
    private final FrameCipher toGather;
    private final FrameCipher[] fromGather; // by the blob's owner
    private final FrameCipher gatherAsksIn; // the endpoint's asks
    private final FrameCipher gatherAsks;
    private boolean anyRound;
    private long gatherRound;
    private byte[][] gathered; // by rank, for the round being gathered
    private int gatheredCount;
    private long gatherDeadline;
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

    GatherChannel(ClientConnection connection) {
        this.c = connection;
        this.rank = c.rank;
        ExchangeSpec spec = c.spec;
        gatherChunkBytes = ExchangeSpec.gatherChunkBytesFor(spec.mtu());
        gatheredBytes = new int[spec.workers()];
        toGather = new FrameCipher(spec.secret(), spec.jobId(), FrameHeader.TYPE_GATHER, rank, c.scratch);
        fromGather = FrameCipher.perRank(spec.secret(), spec.jobId(), FrameHeader.TYPE_GATHERED, spec.workers(),
            c.scratch);
        gatherAsks = new FrameCipher(spec.secret(), spec.jobId(), FrameHeader.TYPE_GATHER_ASK, rank, c.scratch);
        gatherAsksIn = new FrameCipher(spec.secret(), spec.jobId(), FrameHeader.TYPE_GATHER_ASK,
            GradientFrame.SERVER_RANK, c.scratch);
    }

    /** See {@link GradientClient#upload}. */
    void upload(long round, byte[] blob) throws TimeoutException, InterruptedException {
        if (blob.length > GatherFrame.MAX_BLOB_LENGTH) {
            throw new IllegalArgumentException("rank " + rank + " gather round " + round + ": blob of "
                + blob.length + " bytes exceeds " + GatherFrame.MAX_BLOB_LENGTH);
        }
        if (anyRound && round <= gatherRound) {
            throw new IllegalArgumentException("rank " + rank + ": gather round " + round + " after round "
                + gatherRound + ": rounds must increase (each round's frames are sealed under nonces used once)");
        }
        long deadline = System.nanoTime() + c.timeoutNs;
        anyRound = true;
        gatherRound = round;
        gathered = new byte[c.spec.workers()][];
        Arrays.fill(gatheredBytes, 0);
        gatheredCount = 0;
        blobBuffer.wrap(blob);
        int at = 0;
        uploadEnds = new long[Math.max(1, (blob.length + gatherChunkBytes - 1) / gatherChunkBytes)];
        uploadDue = new boolean[uploadEnds.length];
        do {
            int length = Math.min(gatherChunkBytes, blob.length - at);
            sendGatherChunk(blob.length, at, length, 0, deadline);
            at += length;
            // take in blobs the server already forwards (it sends each as soon as it is complete)
            c.gatherDownstream().controlledPoll(onGathered, ClientConnection.FRAGMENT_LIMIT);
            reuploadDue(deadline);
        } while (at < blob.length);
        gatherDeadline = deadline;
    }

    /** See {@link GradientClient#collect}. */
    byte[][] collect() throws TimeoutException, InterruptedException {
        long deadline = gatherDeadline;
        gatherAskIntervalNs = FIRST_GATHER_ASK_NS;
        gatherAskAtNs = System.nanoTime() + gatherAskIntervalNs;
        gatherAskSeq = 0;
        while (gatheredCount < gathered.length) {
            if (c.gatherDownstream().controlledPoll(onGathered, ClientConnection.FRAGMENT_LIMIT) == 0) {
                recoverGather(deadline);
                checkDeadline(deadline);
                c.idle.idle();
            } else {
                c.idle.reset();
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
     * after a bad frame) asks the endpoint to forward again, from what it has, each other rank's blob still missing
     * (ones pre-empted on the way down; a rank still computing costs a small frame per interval).
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
        if (!f.isWellFormed() || f.length() != 2 || f.jobId() != c.spec.jobId() || f.resend() != 0) {
            c.ignoredFrames++;
            return;
        }
        if (f.rank() != rank || uploadEnds == null || (f.step() != gatherRound && f.step() != -1)) {
            return; // for a sibling worker of this JVM, or an old round
        }
        DirectBuffer plain = gatherAsksIn.open(buffer, offset, GradientFrame.HEADER_LENGTH, Long.BYTES, f.step(),
            f.valueOffset());
        if (plain == null) {
            c.unauthenticated++;
            return;
        }
        if (f.valueOffset() <= lastGatherAskSeq) {
            c.ignoredFrames++; // a replayed ask
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
        c.claimToGather(GradientFrame.frameLength(2), gatherRound, deadline);
        var claim = c.claim;
        int index = claim.offset();
        try {
            int seq = gatherAskSeq++;
            Subscription down = c.gatherDownstream();
            askPayload.putLong(0, down.imageCount() == 0 ? 0 : down.imageAtIndex(0).position(), FrameHeader.ORDER);
            ask.wrapForWrite(claim.buffer(), index, claim.length())
                .header(FrameHeader.TYPE_GATHER_ASK, c.spec.jobId(), gatherRound, rank, owner, from, 0, 0, 0f, seq, 2);
            gatherAsks.seal(claim.buffer(), index, GradientFrame.HEADER_LENGTH, askPayload, 0, Long.BYTES, gatherRound,
                seq);
        } catch (RuntimeException e) {
            claim.abort();
            throw e;
        }
        claim.commit();
        gatherAsksSent++;
    }

    /** One piece of this rank's blob, the {@code resend}-th time (0: the first; each resend under its own nonce). */
    private void sendGatherChunk(int blobLength, int at, int length, int resend, long deadline)
        throws TimeoutException, InterruptedException {
        long end = c.claimToGather(GatherFrame.frameLength(length), gatherRound, deadline);
        c.idle.reset();
        var claim = c.claim;
        int index = claim.offset();
        try {
            gatherFrame.wrapForWrite(claim.buffer(), index, claim.length())
                .header(FrameHeader.TYPE_GATHER, c.spec.jobId(), gatherRound, rank, blobLength, at, length)
                .resend(resend);
            toGather.seal(claim.buffer(), index, GatherFrame.HEADER_LENGTH, blobBuffer, at, length,
                FrameHeader.nonceStep(gatherRound, resend), at);
        } catch (RuntimeException e) {
            claim.abort();
            throw e;
        }
        claim.commit();
        uploadEnds[at / gatherChunkBytes] = end;
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
            || !f.isWellFormed() || f.jobId() != c.spec.jobId() || f.round() < gatherRound) {
            c.ignoredFrames++;
            return Action.CONTINUE;
        }
        if (f.round() > gatherRound) {
            return Action.ABORT;
        }
        int owner = f.rank();
        if (owner < 0 || owner >= gathered.length) {
            c.ignoredFrames++;
            return Action.CONTINUE;
        }
        byte[] blob = gathered[owner];
        int at = blob == null ? 0 : gatheredBytes[owner];
        int n = f.length();
        if (f.offset() != at || (blob != null && (at == blob.length || f.blobLength() != blob.length))
            || n > gatherChunkBytes) {
            c.ignoredFrames++; // a repeat (the server never sends one) or a frame of a gather this rank gave up on
            return Action.CONTINUE;
        }
        DirectBuffer plain = fromGather[owner].open(buffer, offset, GatherFrame.HEADER_LENGTH, n, f.nonceRound(), at);
        if (plain == null) {
            c.unauthenticated++;
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

    /** Throws once past the deadline (or interrupted), naming the ranks whose blobs never came back. */
    private void checkDeadline(long deadline) throws TimeoutException, InterruptedException {
        int overdue = ClientConnection.overdue(deadline);
        if (overdue != 0) {
            c.fail(overdue, "rank " + rank + " gather round " + gatherRound + ": no blob from rank(s) " + missingBlobs());
        }
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

    long asksSent() { return gatherAsksSent; }

    long piecesResent() { return gatherPiecesResent; }
}
