package io.lockstep.ps.server;

import io.aeron.Publication;
import io.aeron.logbuffer.FragmentHandler;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.JobSecret;
import io.lockstep.ps.wire.JoinFrame;
import org.agrona.DirectBuffer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashSet;
import java.util.Set;

/**
 * The receivers of one downstream publication (a shard's averages, or the gathered blobs): the job's
 * workers and nobody else.
 *
 * <p><b>Why explicit destinations.</b> The publication is a multi-destination-cast in manual control
 * mode: it sends each frame to the endpoints added here, to no one else. In dynamic control mode, as
 * before, any host that sent a status message to the control port became a destination: it received
 * every average, and with min flow control a subscriber that joined and never read held the publisher
 * at its position, stalling the job. Here an endpoint is added only for an authenticated
 * {@link JoinFrame} from a rank of the job (one endpoint per worker JVM: the workers of a JVM share it,
 * and a second JOIN naming it adds nothing). Flow control then spans the known workers only: a
 * stranger receives nothing, so it learns neither the averages nor the publication's session id, which
 * any status message of its own would have to name to count; it cannot hold the publisher back.
 * Manual destinations never time out either, so a worker JVM paused within the stall budget keeps
 * its place.
 *
 * <p>Runs on the agent thread of its shard (or of the gather). Adding a destination is a round trip to
 * the media driver, once per worker JVM and publication; a JOIN allocates its endpoint string.
 */
final class Destinations {
    private static final Logger LOG = LoggerFactory.getLogger(Destinations.class);

    /** Takes upstream frames that are not JOINs (an aggregator). */
    interface FrameSink {
        void onFrame(DirectBuffer buffer, int offset, int length);
    }

    /**
     * The fragment handler of an agent's upstream subscription: a JOIN goes to {@code destinations}
     * (null over IPC, where there are none to add: the JOIN is dropped as malformed), anything else
     * to {@code aggregator}. Built once per agent: nothing is allocated per fragment.
     */
    static FragmentHandler router(Destinations destinations, DropCounters drops, FrameSink aggregator) {
        return (buffer, offset, length, header) -> {
            if (FrameHeader.type(buffer, offset, length) != FrameHeader.TYPE_JOIN) {
                aggregator.onFrame(buffer, offset, length);
            } else if (destinations != null) {
                destinations.onJoin(buffer, offset, length);
            } else {
                drops.recordMalformed();
            }
        };
    }

    /** Outcome of {@link #onJoin}: JOINED added a destination, KNOWN named one already added. */
    enum Outcome { JOINED, KNOWN, FOREIGN_JOB, MALFORMED, DUPLICATE, UNAUTHENTICATED }

    private Publication publication;
    private final long jobId;
    private final int target;
    private final FrameCipher[] fromRank;
    private final JoinFrame frame = new JoinFrame();
    private final String[] endpointByRank;
    private final Set<String> endpoints = new HashSet<>();
    private final DropCounters drops;

    /**
     * @param target the shard whose averages the publication carries, or {@link JoinFrame#GATHER_TARGET}
     */
    Destinations(Publication publication, JobSecret secret, long jobId, int workers, int target, DropCounters drops) {
        this.publication = publication;
        this.jobId = jobId;
        this.target = target;
        this.fromRank = FrameCipher.perRank(secret, jobId, FrameHeader.TYPE_JOIN, workers, new FrameCipher.Scratch());
        this.endpointByRank = new String[workers];
        this.drops = drops;
    }

    Outcome onJoin(DirectBuffer buffer, int offset, int length) {
        frame.wrap(buffer, offset, length);
        if (!frame.isWellFormed()) {
            return drop(Outcome.MALFORMED);
        }
        if (frame.jobId() != jobId) {
            return drop(Outcome.FOREIGN_JOB);
        }
        int rank = frame.rank();
        if (rank < 0 || rank >= endpointByRank.length || frame.target() != target) {
            return drop(Outcome.MALFORMED);
        }
        if (endpointByRank[rank] != null) {
            return drop(Outcome.DUPLICATE);
        }
        int n = frame.length();
        DirectBuffer plain = fromRank[rank].open(buffer, offset, JoinFrame.HEADER_LENGTH, n, target, 0);
        if (plain == null) {
            return drop(Outcome.UNAUTHENTICATED);
        }
        String endpoint = plain.getStringWithoutLengthAscii(0, n);
        if (!isEndpoint(endpoint)) {
            LOG.warn("rank {} asked {} for a destination that is not host:port", rank, what());
            return drop(Outcome.MALFORMED);
        }
        endpointByRank[rank] = endpoint;
        if (!endpoints.add(endpoint)) {
            return Outcome.KNOWN;
        }
        try {
            publication.addDestination(ExchangeSpec.destination(endpoint));
        } catch (RuntimeException e) {
            endpoints.remove(endpoint);
            endpointByRank[rank] = null;
            LOG.warn("rank {}: {} cannot send to {}: {}", rank, what(), endpoint, e.getMessage());
            return drop(Outcome.MALFORMED);
        }
        LOG.debug("rank {} joined {} from {}", rank, what(), endpoint);
        return Outcome.JOINED;
    }

    /**
     * The publication a later JOIN adds its destination to: a new generation's, once the answers started over (it
     * shares the channel endpoint, so the destinations added so far hold for it too).
     */
    void publication(Publication fresh) {
        publication = fresh;
    }

    /** Where rank {@code rank} receives, once it has joined; else null. */
    String endpoint(int rank) {
        return endpointByRank[rank];
    }

    private String what() {
        return target == JoinFrame.GATHER_TARGET ? "the gather endpoint" : "shard " + target;
    }

    private Outcome drop(Outcome outcome) {
        drops.record(outcome);
        return outcome;
    }

    /**
     * host:port with a host of name or address characters (brackets for IPv6) and a port in 1..65535:
     * anything else could smuggle parameters into the channel URI.
     */
    static boolean isEndpoint(String s) {
        int colon = s.lastIndexOf(':');
        if (colon <= 0 || colon == s.length() - 1 || s.length() - colon - 1 > 5) {
            return false;
        }
        for (int i = 0; i < colon; i++) {
            char c = s.charAt(i);
            if (!(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
                || c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']' || c == '%')) {
                return false;
            }
        }
        int port = 0;
        for (int i = colon + 1; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return false;
            }
            port = port * 10 + (c - '0');
        }
        return port >= 1 && port <= 65535;
    }
}
