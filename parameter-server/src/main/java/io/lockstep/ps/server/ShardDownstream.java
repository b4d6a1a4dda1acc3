package io.lockstep.ps.server;

import io.aeron.Publication;
import io.aeron.logbuffer.BufferClaim;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.session.BoundSubscriptions;

import java.util.function.IntFunction;

/**
 * The publication a shard's frames go out on (answers, optimizer state, asks), claimed through the shard's
 * {@link ClaimGate}, and the session it is on: when the answers start over ({@link #restart}) a new publication of
 * the next generation ({@link ExchangeSpec#sessionId(int, int, int)}) takes its place. On the shard's thread.
 */
final class ShardDownstream {
    final ClaimGate gate;
    /** The claim of the last granted {@link #tryClaim}: write the frame into it, then commit or abort. */
    final BufferClaim claim;
    private final IntFunction<Publication> newPublication; // by generation
    private final Destinations destinations;
    private Publication publication;
    private int generation;

    ShardDownstream(Publication publication, Destinations destinations, IntFunction<Publication> newPublication,
                    int shard) {
        this.publication = publication;
        this.destinations = destinations;
        this.newPublication = newPublication;
        this.gate = new ClaimGate("parameter-server shard " + shard);
        this.claim = gate.claim;
    }

    /** Claims {@code frameLength} bytes, or notes the refusal for the send deadline. */
    boolean claim(int frameLength) {
        return tryClaim(frameLength) >= 0;
    }

    /** As {@link #claim}, returning the stream position after the claimed frame, or the refusal (negative). */
    long tryClaim(int frameLength) {
        return gate.tryClaim(publication, frameLength);
    }

    /** The generation of the session the answers go out on now. */
    int generation() {
        return generation;
    }

    long position() {
        return publication.position();
    }

    Publication publication() {
        return publication;
    }

    /**
     * Starts over on the next generation's session ({@link BoundSubscriptions}): a new publication on the same
     * channel endpoint (so with the same destinations), then the old one closed.
     */
    void restart() {
        Publication fresh = newPublication.apply(generation + 1);
        Publication old = publication;
        publication = fresh;
        generation++;
        if (destinations != null) {
            destinations.publication(fresh);
        }
        old.close();
    }

    void close() {
        publication.close();
    }
}
