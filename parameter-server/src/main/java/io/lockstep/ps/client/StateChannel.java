package io.lockstep.ps.client;

import io.aeron.logbuffer.FragmentHandler;
import io.aeron.logbuffer.Header;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.WireFormat;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.Arrays;
import java.util.concurrent.TimeoutException;

/**
 * With the optimizer on the server: fetches every shard's optimizer state after the last step exchanged, for a
 * checkpoint. One sealed request per shard and step; the shard answers once, in pieces (slot × chunk) read from
 * the answers' subscriptions and opened straight into the caller's off-heap vector.
 */
final class StateChannel {
    private static final UnsafeBuffer NO_PAYLOAD = new UnsafeBuffer(new byte[0]);

    private final ClientConnection c;
    private final StepChannel steps;
    private final ShardLayout layout;
    private final GradientFrame frame = new GradientFrame();
    private final FragmentHandler onState = this::onState;
    private final UnsafeBuffer result = new UnsafeBuffer(0, 0);
    private final FrameCipher toStateRequests;
    private final FrameCipher fromStates;
    private boolean[] stateReceived;
    private int stateReceivedCount;
    private long stateStep = -1;

    StateChannel(ClientConnection connection, StepChannel steps) {
        this.c = connection;
        this.steps = steps;
        this.layout = c.layout;
        toStateRequests = new FrameCipher(c.spec.secret(), c.spec.jobId(), FrameHeader.TYPE_STATE_REQUEST, c.rank,
            c.scratch);
        fromStates = new FrameCipher(c.spec.secret(), c.spec.jobId(), FrameHeader.TYPE_STATE, GradientFrame.SERVER_RANK,
            c.scratch);
    }

    /** See {@link GradientClient#fetchState}. */
    void fetchState(long step, long address) throws TimeoutException, InterruptedException {
        if (!c.spec.serverOptimizer()) {
            throw new IllegalStateException("the optimizer state is on the workers, not on the shards");
        }
        if (!steps.anyStep() || step != steps.currentStep() || step <= stateStep) {
            throw new IllegalArgumentException("rank " + c.rank + ": state after step " + step + " (last exchanged "
                + (steps.anyStep() ? steps.currentStep() : "none") + ", state last fetched after " + stateStep + ")");
        }
        int slots = c.spec.optimizer().rule().stateSlots();
        stateStep = step;
        if (slots == 0) {
            return;
        }
        result.wrap(address, Math.toIntExact((long) slots * layout.paramCount() * Float.BYTES));
        if (stateReceived == null) {
            stateReceived = new boolean[slots * steps.answers().total()];
        }
        Arrays.fill(stateReceived, false);
        stateReceivedCount = 0;
        long deadline = System.nanoTime() + c.timeoutNs;
        for (int s = 0; s < layout.shards(); s++) {
            sendStateRequest(s, deadline);
        }
        while (stateReceivedCount < stateReceived.length) {
            int work = 0;
            for (int s = 0; s < layout.shards(); s++) {
                work += c.downstream(s).poll(onState, ClientConnection.FRAGMENT_LIMIT);
            }
            if (work == 0) {
                int overdue = ClientConnection.overdue(deadline);
                if (overdue != 0) {
                    c.fail(overdue, "rank " + c.rank + ": optimizer state after step " + stateStep
                        + " incomplete from the parameter server");
                }
                c.idle.idle();
            } else {
                c.idle.reset();
            }
        }
    }

    private void sendStateRequest(int shard, long deadline) throws TimeoutException, InterruptedException {
        c.claimToShard(shard, GradientFrame.frameLength(0), stateStep, deadline);
        var claim = c.claim;
        int index = claim.offset();
        try {
            frame.wrapForWrite(claim.buffer(), index, claim.length())
                .header(FrameHeader.TYPE_STATE_REQUEST, c.spec.jobId(), stateStep, c.rank, shard, 0, 0, 0, 0f, 0, 0);
            // one request per shard and step: the shard in the nonce keeps it unique
            toStateRequests.seal(claim.buffer(), index, GradientFrame.HEADER_LENGTH, NO_PAYLOAD, 0, 0, stateStep, shard);
        } catch (RuntimeException e) {
            claim.abort();
            throw e;
        }
        claim.commit();
    }

    private void onState(DirectBuffer buffer, int offset, int length, Header header) {
        frame.wrap(buffer, offset, length);
        if (FrameHeader.type(buffer, offset, length) != FrameHeader.TYPE_STATE || !frame.isWellFormed()
            || frame.encoding() != WireFormat.FP32.code() || frame.jobId() != c.spec.jobId()
            || frame.step() != stateStep) {
            c.ignoredFrames++;
            return;
        }
        int shard = frame.shard();
        int chunks = shard >= 0 && shard < layout.shards() ? layout.chunkCount(shard) : 0;
        int pieces = c.spec.optimizer().rule().stateSlots() * chunks;
        int piece = frame.chunk();
        if (chunks == 0 || frame.chunkCount() != pieces || piece < 0 || piece >= pieces
            || frame.valueOffset() != pieceOffset(shard, piece, chunks)
            || frame.length() != layout.chunkLength(shard, piece % chunks)) {
            c.ignoredFrames++;
            return;
        }
        int slot = (piece / chunks) * steps.answers().total() + steps.answers().slot(shard, piece % chunks);
        if (stateReceived[slot]) {
            c.ignoredFrames++;
            return;
        }
        if (!fromStates.openInto(buffer, offset, GradientFrame.HEADER_LENGTH, frame.length() * Float.BYTES, result,
            frame.valueOffset() * Float.BYTES, stateStep, frame.valueOffset())) {
            c.unauthenticated++;
            return;
        }
        stateReceived[slot] = true;
        stateReceivedCount++;
    }

    /** Where state piece {@code piece} (slot × chunks + chunk) of a shard starts in the slot-major vector. */
    private int pieceOffset(int shard, int piece, int chunks) {
        return Math.toIntExact((long) (piece / chunks) * layout.paramCount() + layout.chunkStart(shard, piece % chunks));
    }
}
