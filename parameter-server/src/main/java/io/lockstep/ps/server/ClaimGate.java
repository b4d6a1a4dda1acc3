package io.lockstep.ps.server;

import io.aeron.Publication;
import io.aeron.logbuffer.BufferClaim;
import org.agrona.concurrent.AgentTerminationException;

/**
 * The claims an agent makes on its downstream publication (a shard's answers, the gathered blobs): a refused claim
 * starts the send deadline (the workers take nothing), a granted one ends it, and a publication closed or past its
 * maximum position stops the agent. One per agent, on the agent's thread.
 */
final class ClaimGate {
    /** The claim of the last granted {@link #tryClaim}: write the frame into it, then commit or abort. */
    final BufferClaim claim = new BufferClaim();
    private final String owner;
    private boolean blocked; // the publication refused a claim: the send deadline runs
    private long blockedNs;
    private long blockedResult;

    /** {@code owner}: who claims, for the message of an unusable publication ("parameter-server shard 2"). */
    ClaimGate(String owner) {
        this.owner = owner;
    }

    /** Claims {@code frameLength} bytes of {@code publication}: the stream position after the frame, or the refusal. */
    long tryClaim(Publication publication, int frameLength) {
        long result = publication.tryClaim(frameLength, claim);
        if (result < 0) {
            if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED) {
                throw new AgentTerminationException(owner + " downstream publication unusable: " + result);
            }
            if (!blocked) {
                blocked = true;
                blockedNs = System.nanoTime();
            }
            blockedResult = result;
            return result;
        }
        blocked = false;
        return result;
    }

    /** True once every claim since the first refused one has been refused, for longer than {@code timeoutNs}. */
    boolean blockedLongerThan(long nowNs, long timeoutNs) {
        return blocked && nowNs - blockedNs > timeoutNs;
    }

    /** Why the last claim was refused, for the deadline's message. */
    String refusal() {
        return blockedResult == Publication.NOT_CONNECTED ? "no receiver connected" : "back-pressure";
    }
}
