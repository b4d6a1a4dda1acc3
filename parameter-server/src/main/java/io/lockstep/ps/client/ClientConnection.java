package io.lockstep.ps.client;

import io.aeron.Aeron;
import io.aeron.ExclusivePublication;
import io.aeron.Image;
import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.logbuffer.BufferClaim;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.media.FreePorts;
import io.lockstep.ps.media.IdleStrategies;
import io.lockstep.ps.session.BoundSubscriptions;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.JoinFrame;
import org.agrona.CloseHelper;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A worker's publications and subscriptions to the parameter server: by shard, the publication of this rank's
 * gradients and the subscription of the shard's answers (its session and the next generation's); the gather
 * endpoint's pair; the JOIN that makes each server send here ({@link #awaitConnected}); the claims of frames on
 * the publications, waiting out back-pressure; and the restart of a shard's publication on a fresh session.
 * The channels ({@link StepChannel}, {@link StateChannel}, {@link GatherChannel}) speak their protocols over it
 * and share its claim, its cipher scratch, its idle strategy and its counts of dropped frames.
 *
 * <p>Single-threaded, like its client.
 */
final class ClientConnection implements AutoCloseable {
    /** (job, host) → the ports this JVM's workers receive on: averages by shard, then gathered blobs. */
    private static final Map<String, int[]> RECEIVE_PORTS = new ConcurrentHashMap<>();
    /** How long a worker waits to hear a server before it sends its JOIN again (doubling, and at most every 2 s). */
    private static final long JOIN_AGAIN_NS = 1_000_000_000L;
    /** The shard argument of a wait that is for the gather endpoint. */
    private static final int GATHER = -1;
    static final int FRAGMENT_LIMIT = 16;
    /** {@link #overdue}: the deadline passed, or the thread was interrupted. */
    static final int TIMED_OUT = 1;
    static final int INTERRUPTED = 2;

    final ExchangeSpec spec;
    final ShardLayout layout;
    final int rank;
    final long timeoutNs;
    final BufferClaim claim = new BufferClaim();
    final IdleStrategy idle = IdleStrategies.client();
    final FrameCipher.Scratch scratch = new FrameCipher.Scratch();
    /** Frames skipped without opening them (other jobs, older steps or rounds, repeats, malformed). */
    long ignoredFrames;
    /** Frames of this job whose tag did not hold. */
    long unauthenticated;

    private final Aeron aeron;
    private final String workerHost;
    private final ExclusivePublication[] upstream;
    private final BoundSubscriptions[] downstream; // by shard: its answers' session, and the next generation's
    private final int[] upstreamGeneration;         // by shard: of this rank's gradients' session
    private final ExclusivePublication gatherUpstream;
    private final Subscription gatherDownstream;
    private final JoinFrame joinFrame = new JoinFrame();
    private final FrameCipher joins;

    ClientConnection(Aeron aeron, ExchangeSpec spec, int rank, String workerHost) {
        this.aeron = aeron;
        this.spec = spec;
        this.layout = spec.layout();
        this.rank = rank;
        this.workerHost = workerHost;
        this.timeoutNs = TimeUnit.MILLISECONDS.toNanos(spec.timeoutMillis());
        int shards = layout.shards();
        upstream = new ExclusivePublication[shards];
        downstream = new BoundSubscriptions[shards];
        upstreamGeneration = new int[shards];
        joins = new FrameCipher(spec.secret(), spec.jobId(), FrameHeader.TYPE_JOIN, rank, scratch);
        ExclusivePublication gatherUp = null;
        Subscription gatherDown = null;
        try {
            for (int s = 0; s < shards; s++) {
                int shard = s;
                int port = receivePort(spec, s, workerHost);
                downstream[s] = new BoundSubscriptions(aeron, spec.downstreamStream(s), new int[]{ExchangeSpec.SERVER},
                    (server, generation) -> spec.downstreamSubscriptionChannel(shard, workerHost, port, generation));
                upstream[s] = aeron.addExclusivePublication(spec.upstreamChannel(s, rank), spec.upstreamStream(s));
            }
            gatherDown = aeron.addSubscription(
                spec.gatherDownstreamSubscriptionChannel(workerHost, receivePort(spec, shards, workerHost)),
                spec.gatherDownstreamStream());
            gatherUp = aeron.addExclusivePublication(spec.gatherUpstreamChannel(rank), spec.gatherUpstreamStream());
        } catch (RuntimeException e) {
            CloseHelper.closeAll(upstream);
            CloseHelper.closeAll(downstream);
            CloseHelper.closeAll(gatherUp, gatherDown);
            throw e;
        }
        gatherDownstream = gatherDown;
        gatherUpstream = gatherUp;
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
            k -> FreePorts.udp(workerHost, spec.layout().shards() + 1, spec.ports()))[index];
    }

    /** The endpoint this JVM receives shard {@code s}'s averages on ({@code layout.shards()}: the gathered blobs). */
    String receiveEndpoint(int index) {
        return ExchangeSpec.endpoint(workerHost, receivePort(spec, index, workerHost));
    }

    ExclusivePublication upstream(int shard) {
        return upstream[shard];
    }

    BoundSubscriptions downstream(int shard) {
        return downstream[shard];
    }

    /** The generation of the session this rank's gradients to {@code shard} go on. */
    int upstreamGeneration(int shard) {
        return upstreamGeneration[shard];
    }

    ExclusivePublication gatherUpstream() {
        return gatherUpstream;
    }

    Subscription gatherDownstream() {
        return gatherDownstream;
    }

    /** Sessions of the shards' answers this client followed to their next generation. */
    long promotions() {
        long promotions = 0;
        for (BoundSubscriptions sub : downstream) {
            promotions += sub.promotions();
        }
        return promotions;
    }

    /**
     * Joins the job: waits until every shard and the gather endpoint can hear this worker, tells each
     * (over UDP) where this worker's JVM receives, in an authenticated JOIN frame, and waits until each
     * sends there. Only then may the first gradient go out: averages are published only once every
     * rank's gradients are in, so every worker's image exists before any average is sent.
     */
    void awaitConnected() throws TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + timeoutNs;
        for (int s = 0; s < layout.shards(); s++) {
            awaitUpstream(upstream[s], s, deadline);
        }
        awaitUpstream(gatherUpstream, GATHER, deadline);
        UnsafeBuffer[] joined = new UnsafeBuffer[layout.shards() + 1]; // the sealed JOINs, by shard, then the gather's
        if (spec.transport() == ExchangeSpec.Transport.UDP) {
            for (int s = 0; s < layout.shards(); s++) {
                joined[s] = sendJoin(upstream[s], s, receiveEndpoint(s), deadline);
            }
            joined[layout.shards()] = sendJoin(gatherUpstream, JoinFrame.GATHER_TARGET, receiveEndpoint(layout.shards()),
                deadline);
        }
        for (int s = 0; s < layout.shards(); s++) {
            String source = serverSource(spec.controlPorts()[s]);
            boolean ipc = spec.transport() == ExchangeSpec.Transport.IPC;
            long again = JOIN_AGAIN_NS;
            long at = System.nanoTime() + again;
            while (!downstream[s].hears(ExchangeSpec.SERVER, image -> ipc || image.sourceIdentity().endsWith(source))) {
                checkJoinDeadline(deadline, false, s);
                if (joined[s] != null && System.nanoTime() - at > 0) {
                    upstream[s].offer(joined[s]); // lost, or forged over on the wire: the same sealed bytes again
                    again = Math.min(again * 2, 2_000_000_000L);
                    at = System.nanoTime() + again;
                }
                idle.idle();
            }
        }
        String gatherSource = serverSource(spec.gatherControlPort());
        long again = JOIN_AGAIN_NS;
        long at = System.nanoTime() + again;
        while (!hearsServer(gatherDownstream, gatherSource)) {
            checkJoinDeadline(deadline, false, GATHER);
            UnsafeBuffer join = joined[layout.shards()];
            if (join != null && System.nanoTime() - at > 0) {
                gatherUpstream.offer(join);
                again = Math.min(again * 2, 2_000_000_000L);
                at = System.nanoTime() + again;
            }
            idle.idle();
        }
        idle.reset();
    }

    private void awaitUpstream(Publication pub, int shard, long deadline) throws TimeoutException, InterruptedException {
        while (!pub.isConnected()) {
            checkJoinDeadline(deadline, true, shard);
            idle.idle();
        }
    }

    /** The end of an image's source identity when it comes from the server's port (built before a wait). */
    private static String serverSource(int serverPort) {
        return ":" + serverPort;
    }

    /**
     * True once the subscription has an image from the server's publication: over UDP one whose
     * source ends in {@code source}, the server's port for it. Anyone can send to a worker's endpoint, and
     * an image of a stranger's must not pass for the server's (the server would then publish to an endpoint
     * whose image is not there yet). Indexes the images rather than copying their list: runs on every spin.
     */
    private boolean hearsServer(Subscription sub, String source) {
        if (!sub.isConnected()) {
            return false;
        }
        if (spec.transport() == ExchangeSpec.Transport.IPC) {
            return true;
        }
        for (int i = 0, n = sub.imageCount(); i < n; i++) {
            Image image = sub.imageAtIndex(i);
            if (image.sourceIdentity().endsWith(source)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Sends one sealed JOIN and returns a copy of its bytes: while the server is not heard from, the same bytes go
     * again ({@link #awaitConnected}), never a second sealing under the same nonce. A server that has the JOIN drops
     * a copy as a duplicate.
     */
    private UnsafeBuffer sendJoin(ExclusivePublication pub, int target, String endpoint, long deadline)
        throws TimeoutException, InterruptedException {
        UnsafeBuffer bytes = new UnsafeBuffer(new byte[endpoint.length()]);
        bytes.putStringWithoutLengthAscii(0, endpoint);
        long result;
        while ((result = pub.tryClaim(JoinFrame.frameLength(bytes.capacity()), claim)) < 0) {
            if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED) {
                throw new IllegalStateException("rank " + rank + ": publication to " + (target == JoinFrame.GATHER_TARGET
                    ? "the gather endpoint" : "shard " + target) + " unusable (" + result + ")");
            }
            checkJoinDeadline(deadline, true, target == JoinFrame.GATHER_TARGET ? GATHER : target);
            idle.idle();
        }
        idle.reset();
        int index = claim.offset();
        try {
            joinFrame.wrapForWrite(claim.buffer(), index, claim.length())
                .header(spec.jobId(), rank, target, bytes.capacity());
            joins.seal(claim.buffer(), index, JoinFrame.HEADER_LENGTH, bytes, 0, bytes.capacity(), target, 0);
        } catch (RuntimeException e) {
            claim.abort();
            throw e;
        }
        UnsafeBuffer sealed = new UnsafeBuffer(new byte[claim.length()]);
        sealed.putBytes(0, claim.buffer(), index, claim.length());
        claim.commit();
        return sealed;
    }

    /**
     * Claims {@code length} bytes of the publication to {@code shard} for a frame of {@code step}, waiting out
     * back-pressure within {@code deadline}; returns the stream position after the claimed frame.
     */
    long claimToShard(int shard, int length, long step, long deadline) throws TimeoutException, InterruptedException {
        ExclusivePublication pub = upstream[shard];
        long result;
        while ((result = pub.tryClaim(length, claim)) < 0) {
            if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED) {
                throw new IllegalStateException("rank " + rank + ": publication to shard " + shard + " unusable ("
                    + result + ")");
            }
            int overdue = overdue(deadline);
            if (overdue != 0) {
                fail(overdue, "rank " + rank + " step " + step + ": shard " + shard + (result == Publication.NOT_CONNECTED
                    ? " not connected" : " not accepting gradients (back-pressure)"));
            }
            idle.idle();
        }
        idle.reset();
        return result;
    }

    /**
     * Claims {@code length} bytes of the publication to the gather endpoint for a frame of {@code round}, waiting out
     * back-pressure within {@code deadline}; returns the stream position after the claimed frame.
     */
    long claimToGather(int length, long round, long deadline) throws TimeoutException, InterruptedException {
        long result;
        while ((result = gatherUpstream.tryClaim(length, claim)) < 0) {
            if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED) {
                throw new IllegalStateException("rank " + rank + ": gather publication unusable (" + result + ")");
            }
            int overdue = overdue(deadline);
            if (overdue != 0) {
                fail(overdue, "rank " + rank + " gather round " + round + ": " + (result == Publication.NOT_CONNECTED
                    ? "gather endpoint not connected" : "gather endpoint not accepting blobs (back-pressure)"));
            }
            idle.idle();
        }
        return result;
    }

    /**
     * Starts this rank's gradients to {@code shard} over on the next generation's session ({@link BoundSubscriptions}):
     * a new publication, connected, then the old one closed.
     */
    void restartUpstream(int shard, long deadline) throws TimeoutException, InterruptedException {
        int generation = upstreamGeneration[shard] + 1;
        ExclusivePublication fresh = aeron.addExclusivePublication(spec.upstreamChannel(shard, rank, generation),
            spec.upstreamStream(shard));
        ExclusivePublication old = upstream[shard];
        upstream[shard] = fresh;
        upstreamGeneration[shard] = generation;
        old.close();
        awaitUpstream(fresh, shard, deadline);
    }

    /**
     * 0 while within {@code deadline} and not interrupted; else {@link #TIMED_OUT} or {@link #INTERRUPTED} (the
     * interrupt is taken, to be thrown as an {@link InterruptedException} by {@link #fail}). Runs on every idle spin of
     * a wait: builds nothing.
     */
    static int overdue(long deadline) {
        if (Thread.interrupted()) {
            return INTERRUPTED;
        }
        return System.nanoTime() - deadline <= 0 ? 0 : TIMED_OUT;
    }

    /** Throws for an {@link #overdue} wait, naming what was waited for (built by the caller only then). */
    void fail(int overdue, String what) throws TimeoutException, InterruptedException {
        if (overdue == INTERRUPTED) {
            throw new InterruptedException(what);
        }
        throw new TimeoutException(what + " within " + spec.timeoutMillis() + " ms");
    }

    /** A join's wait: for the publication to a server ({@code upstream}), or for the server to send here. */
    private void checkJoinDeadline(long deadline, boolean upstreamWait, int shard)
        throws TimeoutException, InterruptedException {
        int overdue = overdue(deadline);
        if (overdue == 0) {
            return;
        }
        String endpoint = shard == GATHER ? "parameter-server gather endpoint" : "parameter-server shard " + shard;
        fail(overdue, upstreamWait
            ? "rank " + rank + ": " + endpoint + " not reachable (" + (shard == GATHER ? "gather channel "
                + gatherUpstream.channel() : "gradient channel " + upstream[shard].channel()) + ")"
            : "rank " + rank + ": " + endpoint + " does not send to this worker (expected on "
                + (shard == GATHER ? gatherDownstream.channel() : downstream[shard].channel(ExchangeSpec.SERVER)) + ")");
    }

    @Override
    public void close() {
        CloseHelper.closeAll(upstream);
        CloseHelper.closeAll(downstream);
        CloseHelper.closeAll(gatherUpstream, gatherDownstream);
    }
}
