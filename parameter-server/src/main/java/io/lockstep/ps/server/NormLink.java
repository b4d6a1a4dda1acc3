package io.lockstep.ps.server;

import io.aeron.Publication;
import io.aeron.logbuffer.FragmentHandler;
import io.lockstep.ps.session.BoundSubscriptions;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.JobSecret;
import io.lockstep.ps.wire.WireFormat;
import org.agrona.BufferUtil;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.Agent;
import org.agrona.concurrent.AgentTerminationException;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The cross-shard norm reduction between the servers of one job when its shards run on the executors:
 * sends each sum of squares this server's shards post to its {@link NormReduction} to every other server
 * ({@link FrameHeader#TYPE_NORM}, sealed with the posting shard's key), and posts the ones the others send
 * into the same slots. Every server then reads the same values in the same slots, and so the same total.
 *
 * <p>Runs in the thread of the server's first shard (a composite agent). A frame is refused unless its tag
 * holds and it is for a later step than the slot holds (a replay of an older step is stale; a copy of the step in
 * the slot changes nothing). Each sum of squares goes out again at doubling intervals until the next step
 * ({@link #resendIfDue}), so a lost or pre-empted frame costs a resend, not the step. Sends that find a peer not yet
 * connected or back-pressured are retried on the next duty cycle; the shards' own deadline (a step whose
 * reduction does not complete) names the shards that never posted.
 */
final class NormLink implements Agent {
    private static final int FRAME = GradientFrame.frameLength(2); // one double, as two float32 slots
    private static final int FRAGMENT_LIMIT = 16;
    private static final long FIRST_RESEND_MS = 20;
    private static final long MAX_RESEND_INTERVAL_NS = 1_000_000_000L;

    private final NormReduction reduction;
    private final long jobId;
    private final int[] localShards;
    private final boolean[] local;          // by shard
    private final Publication[] peers;      // one per other server
    private final long[][] sent;            // [local shard index][peer]: the last step that went out
    private final UnsafeBuffer[] sealed;    // [local shard index]: its last posted step, sealed
    private final long[] sealedStep;
    private final FrameCipher[] byShard;    // seal (own shards) and open (the others') keys
    private final BoundSubscriptions in;
    private final DropCounters drops;
    private final GradientFrame frame = new GradientFrame();
    private final long[] resendStep;        // [local shard index]: the step whose resends are scheduled
    private final long[] resendAtNs;
    private final long[] resendIntervalNs;
    private long resends;
    private final UnsafeBuffer value = new UnsafeBuffer(BufferUtil.allocateDirectAligned(Double.BYTES, 8));
    private final FragmentHandler onFragment = (buffer, offset, length, header) -> onFrame(buffer, offset, length);

    NormLink(NormReduction reduction, long jobId, JobSecret secret, int shards, int[] localShards,
             BoundSubscriptions in, Publication[] peers, DropCounters drops) {
        this.reduction = reduction;
        this.jobId = jobId;
        this.localShards = localShards.clone();
        this.local = new boolean[shards];
        for (int s : localShards) {
            local[s] = true;
        }
        this.in = in;
        this.peers = peers.clone();
        this.drops = drops;
        this.sent = new long[localShards.length][peers.length];
        this.sealed = new UnsafeBuffer[localShards.length];
        this.sealedStep = new long[localShards.length];
        this.resendStep = new long[localShards.length];
        this.resendAtNs = new long[localShards.length];
        this.resendIntervalNs = new long[localShards.length];
        java.util.Arrays.fill(resendStep, -1);
        for (int i = 0; i < localShards.length; i++) {
            java.util.Arrays.fill(sent[i], -1);
            sealed[i] = new UnsafeBuffer(BufferUtil.allocateDirectAligned(FRAME, 64));
            sealedStep[i] = -1;
        }
        FrameCipher.Scratch scratch = new FrameCipher.Scratch();
        this.byShard = new FrameCipher[shards];
        for (int s = 0; s < shards; s++) {
            byShard[s] = new FrameCipher(secret, jobId, FrameHeader.TYPE_NORM, s, scratch);
        }
    }

    @Override
    public int doWork() {
        int work = in.poll(onFragment, FRAGMENT_LIMIT);
        for (int i = 0; i < localShards.length; i++) {
            long step = reduction.postedStep(localShards[i]);
            if (step < 0) {
                continue;
            }
            for (int p = 0; p < peers.length; p++) {
                if (sent[i][p] < step) {
                    work += send(i, p, step);
                }
            }
            work += resendIfDue(i, step);
        }
        return work;
    }

    /**
     * Sends the shard's last sealed frame to every peer again, {@value #FIRST_RESEND_MS} ms after it first went
     * out and then at doubling intervals up to a second, until the shard posts a later step. A frame lost on the
     * wire, or pre-empted in Aeron's term by a forged one, would otherwise stall the step until the deadline; the
     * copies are the same bytes (the same nonce over the same header and value), and a peer that has the step
     * ignores them.
     */
    private int resendIfDue(int i, long step) {
        if (sealedStep[i] != step || peers.length == 0) {
            return 0;
        }
        long now = System.nanoTime();
        if (resendStep[i] != step) {
            resendStep[i] = step;
            resendIntervalNs[i] = FIRST_RESEND_MS * 1_000_000L;
            resendAtNs[i] = now + resendIntervalNs[i];
            return 0;
        }
        if (now - resendAtNs[i] < 0) {
            return 0;
        }
        for (Publication peer : peers) {
            peer.offer(sealed[i], 0, FRAME); // best effort: the next one follows
        }
        resends++;
        resendIntervalNs[i] = Math.min(resendIntervalNs[i] * 2, MAX_RESEND_INTERVAL_NS);
        resendAtNs[i] = now + resendIntervalNs[i];
        return 1;
    }

    /** Copies of its sums of squares this link has sent again. */
    long resends() {
        return resends;
    }

    private int send(int i, int peer, long step) {
        if (sealedStep[i] != step) {
            int shard = localShards[i];
            value.putDouble(0, reduction.posted(shard), FrameHeader.ORDER);
            frame.wrapForWrite(sealed[i], 0, FRAME)
                .header(FrameHeader.TYPE_NORM, jobId, step, GradientFrame.SERVER_RANK, shard, 0, 1, 0, 0f, 0, 2);
            byShard[shard].seal(sealed[i], 0, GradientFrame.HEADER_LENGTH, value, 0, Double.BYTES, step, shard);
            sealedStep[i] = step;
        }
        long result = peers[peer].offer(sealed[i], 0, FRAME);
        if (result > 0) {
            sent[i][peer] = step;
            return 1;
        }
        if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED) {
            throw new AgentTerminationException("the norm reduction's link to another server is unusable: " + result);
        }
        return 0; // not connected yet, or back-pressured: again on the next duty cycle
    }

    void onFrame(DirectBuffer buffer, int offset, int length) {
        if (FrameHeader.type(buffer, offset, length) != FrameHeader.TYPE_NORM) {
            drops.recordMalformed();
            return;
        }
        GradientFrame f = frame.wrap(buffer, offset, length);
        if (!f.isWellFormed() || f.length() != 2 || f.encoding() != WireFormat.FP32.code()) {
            drops.recordMalformed();
            return;
        }
        if (f.jobId() != jobId) {
            drops.record(ShardAggregator.Outcome.FOREIGN_JOB);
            return;
        }
        int shard = f.shard();
        if (shard < 0 || shard >= local.length || local[shard]) {
            drops.recordMalformed();
            return;
        }
        long step = f.step();
        long held = reduction.postedStep(shard);
        if (step == held) {
            return; // a resend of what is in (resendIfDue), or a replay of it: changes nothing, not a drop
        }
        if (step < held) {
            drops.record(ShardAggregator.Outcome.STALE_STEP);
            return;
        }
        DirectBuffer plain = byShard[shard].open(buffer, offset, GradientFrame.HEADER_LENGTH, Double.BYTES, step, shard);
        if (plain == null) {
            drops.record(ShardAggregator.Outcome.UNAUTHENTICATED);
            return;
        }
        reduction.post(shard, step, plain.getDouble(0, FrameHeader.ORDER));
    }

    @Override
    public String roleName() {
        return "lockstep-ps-norm-link";
    }
}
