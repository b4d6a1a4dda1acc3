package io.lockstep.ps;

import io.lockstep.ps.media.PortRange;
import io.lockstep.ps.optim.ServerOptimizer;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GatherFrame;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.JobSecret;
import io.lockstep.ps.wire.WireFormat;

import java.io.Serializable;
import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;

/**
 * Everything a worker needs to reach the parameter server, shipped to Spark tasks as-is, with the
 * job's {@link JobSecret} (which no {@code toString} shows).
 *
 * <p>UDP: shard s listens for gradients on {@code host:upstreamPorts[s]} and answers with a
 * multi-destination-cast publication bound to {@code host:controlPorts[s]} (where the workers' status
 * messages and NAKs come back) in manual control mode: it sends only to the receive endpoints that the
 * job's workers named in authenticated JOIN frames ({@code Destinations}), one per worker JVM, picked
 * by that JVM; the server needs no worker address up front. The all-gather has one such pair of its own
 * ({@code gatherPort}, {@code gatherControlPort}), served by one endpoint for the whole server rather
 * than per shard.
 * IPC: the same streams over shared memory, for workers in the server's JVM.
 *
 * <p>{@code timeoutMillis} ({@code ps.timeout_seconds}) is the job's one stall budget: the longest any
 * wait of a worker or of a server shard may last before it fails naming rank and step. Aeron's own
 * liveness timeouts are set above it ({@code EmbeddedAeron}), so a pause within the budget is survived.
 *
 * <p>{@code optimizer} null: shards send back averages and every worker applies the optimizer step
 * ({@code optimizer.placement: replica}); else shards apply it to their slices and send back parameters.
 *
 * <p>{@code wire} ({@code ps.wire}): how gradients, and averages, travel; null means {@link WireFormat#FP32}.
 * Parameters and optimizer state always travel as float32. The layout's chunks are the same for every
 * format (a 16-bit frame is half as long).
 *
 * <p>{@code shardHosts} null: every shard runs in the driver's JVM and listens on {@code host}
 * ({@code ps.placement: driver}). Else ({@code ps.placement: executors}) shard s runs next to worker rank
 * {@link #hostRank(int, int, int)} on that executor's address, and the shards of one executor JVM share the
 * cross-shard norm reduction of a step over the wire ({@link ShardHosts#normPorts()}); the all-gather
 * endpoint and the step reports stay at the driver's {@code host}. The tasks fill these in at the start
 * of the stage ({@link #withShardEndpoints}), once every hosting executor has picked its ports.
 *
 * <p>{@code aeronDir} ({@code ps.aeron_dir}): the directory the media drivers of every JVM of the job put their
 * files in; null: /dev/shm. {@code terms}: the term length of each kind of stream ({@code ps.term_length}, auto:
 * {@link ExchangeRules#autoTerms}); the term length and MTU ride along in every channel, so a receiving endpoint
 * refuses SETUPs naming others.
 *
 * <p>Built with {@link #builder} ({@link ExchangeSpecBuilder}); {@link #toBuilder} for a spec that differs in a few
 * settings.
 */
public record ExchangeSpec(
    long jobId,
    ShardLayout layout,
    int workers,
    Transport transport,
    String host,
    int[] upstreamPorts,
    int[] controlPorts,
    int gatherPort,
    int gatherControlPort,
    Terms terms,
    int mtu,
    long timeoutMillis,
    long firstStep,
    JobSecret secret,
    ServerOptimizer optimizer,
    WireFormat wire,
    ShardHosts shardHosts,
    PortRange ports,
    String aeronDir
) implements Serializable {

    /** How frames travel: UDP (across hosts, or loopback), or IPC (shared memory, workers in the server's JVM). */
    public enum Transport {
        UDP, IPC;

        /** The name the config uses ({@code udp}, {@code ipc}). */
        public String configName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Aeron frame header in front of every message. */
    public static final int AERON_HEADER = 32;
    /** Stream kinds: each stream id is the job's base plus one of these (plus the shard where there is one). */
    private static final int UPSTREAM = 0;
    private static final int DOWNSTREAM = 0x1_0000;
    private static final int GATHER_UPSTREAM = 0x2_0000;
    private static final int GATHER_DOWNSTREAM = 0x2_0001;
    private static final int NORM = 0x2_0002;
    /** The sender index of shard 0's step reports on the gather upstream stream (ranks are 0..workers-1). */
    public int stepReporter() { return workers; }
    /** The sender index of a server on the streams it publishes (one sender each). */
    public static final int SERVER = 0;
    public static final int DEFAULT_MTU = ExchangeRules.MAX_MTU;
    /**
     * The UDP socket buffers (each way) the media drivers ask for; channels that many workers send to share it out
     * ({@link #receiverWindow()}).
     */
    public static final int SOCKET_BUFFER = 2 * 1024 * 1024;
    public static final int DEFAULT_TERM_LENGTH = 8 * 1024 * 1024;

    public ExchangeSpec {
        if (transport == Transport.UDP
            && (upstreamPorts.length != layout.shards() || controlPorts.length != layout.shards())) {
            throw new IllegalArgumentException("need one upstream and one control port per shard, got "
                + Arrays.toString(upstreamPorts) + " and " + Arrays.toString(controlPorts));
        }
        String mtuProblem = ExchangeRules.mtuProblem(mtu);
        if (mtuProblem != null) {
            throw new IllegalArgumentException("mtu " + mtuProblem);
        }
        if (layout.chunkValues() > chunkValuesFor(mtu)) {
            throw new IllegalArgumentException("chunks of " + layout.chunkValues() + " values do not fit one frame of mtu "
                + mtu + " (at most " + chunkValuesFor(mtu) + ")");
        }
        Objects.requireNonNull(terms, "terms");
        String termProblem = ExchangeRules.termForMtuProblem(terms.smallest(), mtu);
        if (termProblem != null) {
            throw new IllegalArgumentException("term length " + termProblem);
        }
        Objects.requireNonNull(secret, "every frame is authenticated: an exchange needs its job's secret");
        if (optimizer != null && optimizer.roles().length() != layout.paramCount()) {
            throw new IllegalArgumentException("the server optimizer covers " + optimizer.roles().length()
                + " parameters, the layout " + layout.paramCount());
        }
        if (wire == null) {
            wire = WireFormat.FP32;
        }
        if (shardHosts != null) {
            String problem = ExchangeRules.executorShardsProblem(transport);
            if (problem != null) {
                throw new IllegalArgumentException(problem);
            }
            if (shardHosts.hosts().length != layout.shards() || shardHosts.normPorts().length != layout.shards()) {
                throw new IllegalArgumentException("shards on the executors need a host and a norm port per shard");
            }
        }
    }

    /**
     * Where the shards run when they run on the executors: shard s on {@code hosts[s]}, whose server
     * receives the other servers' sums of squares on {@code normPorts[s]} (the same port for every shard of
     * one server).
     */
    public record ShardHosts(String[] hosts, int[] normPorts) implements Serializable {
    }

    /** A builder of a spec for job {@code jobId}'s {@code workers} workers exchanging vectors laid out as {@code layout}. */
    public static ExchangeSpecBuilder builder(long jobId, ShardLayout layout, int workers) {
        return new ExchangeSpecBuilder(jobId, layout, workers);
    }

    /** A builder holding every setting of this spec. */
    public ExchangeSpecBuilder toBuilder() {
        return new ExchangeSpecBuilder(this);
    }

    /** This spec with another secret ({@link JobSecret#plaintextForBenchmarks()} for the benchmarks' clear frames). */
    public ExchangeSpec withSecret(JobSecret other) {
        return toBuilder().secret(other).build();
    }

    /** This spec with the optimizer on the shards ({@code null}: on the workers). */
    public ExchangeSpec withOptimizer(ServerOptimizer serverOptimizer) {
        return toBuilder().optimizer(serverOptimizer).build();
    }

    /** This spec with gradients (and averages) travelling in {@code format} ({@code null}: float32). */
    public ExchangeSpec withWire(WireFormat format) {
        return toBuilder().wire(format).build();
    }

    /**
     * This spec with its shards on the executors: shard s listening on {@code hosts[s]} at
     * {@code upstreamPorts[s]}, publishing with control port {@code controlPorts[s]}, its server taking the
     * norm reduction on {@code normPorts[s]}.
     */
    public ExchangeSpec withShardEndpoints(String[] hosts, int[] upstream, int[] control, int[] norm) {
        return toBuilder().shardEndpoints(new ShardHosts(hosts, norm), upstream, control).build();
    }

    /** True when the shards run on the executors (then their endpoints are known once the stage started). */
    public boolean shardsOnExecutors() {
        return shardHosts != null;
    }

    /**
     * The rank next to which shard s runs when shards run on the executors: shards spread evenly over
     * the ranks (with as many shards as workers, shard r next to rank r).
     */
    public static int hostRank(int shard, int shards, int workers) {
        return (int) ((long) shard * workers / shards);
    }

    /** The address shard s listens on: its executor's, or the driver's {@code host}. */
    public String shardHost(int shard) {
        return shardHosts == null ? host : shardHosts.hosts()[shard];
    }

    /** The format of what the shards send back: the job's wire for averages, float32 for parameters. */
    public WireFormat answerWire() {
        return optimizer == null ? wire : WireFormat.FP32;
    }

    /** True when the shards apply the optimizer and answer with parameters. */
    public boolean serverOptimizer() {
        return optimizer != null;
    }

    /** Largest chunk (in floats) that fits one frame of the given MTU. */
    public static int chunkValuesFor(int mtu) {
        return (mtu - AERON_HEADER - GradientFrame.HEADER_LENGTH - FrameHeader.TAG_LENGTH) / Float.BYTES;
    }

    /** Largest piece of a gather blob (in bytes) that fits one frame of the given MTU. */
    public static int gatherChunkBytesFor(int mtu) {
        return mtu - AERON_HEADER - GatherFrame.HEADER_LENGTH - FrameHeader.TAG_LENGTH;
    }

    /*
     * Stream and session ids. Every stream id is a per-job base derived from the secret plus its kind (so the
     * kinds never collide, even over IPC where they share one channel), and every sender on a stream has its own
     * session id, a per-stream base derived from the secret plus the sender's index (so the senders of a stream
     * never collide). Every subscription names the one session it takes (Aeron's session-id parameter): the
     * media driver then creates no image, maps no log and answers nothing for a SETUP or a data frame of any other
     * stream or session, and nobody without the secret can guess a pair (2^64). Measured before: 18,000 forged
     * SETUPs with 1 GiB terms on the fixed stream ids, each an image mapped twice, exhausted vm.max_map_count and
     * aborted the JVM in 15-30 s.
     */

    /** The job's stream id for a kind (and shard). */
    int streamId(int kind) {
        return secret.derive(jobId, "stream", 0) + kind;
    }

    /** The session id of sender {@code sender} on stream {@code stream}, in its first generation. */
    public int sessionId(int stream, int sender) {
        return sessionId(stream, sender, 0);
    }

    /**
     * The session id of sender {@code sender} on stream {@code stream} in generation {@code generation}: a sender
     * whose stream a forged frame has broken (a receiver reads it out of step) starts over on the next generation's
     * session, which its receivers already subscribe to ({@code BoundSubscriptions}). Each generation's base comes
     * from the secret on its own, so no generation's ids follow from another's.
     */
    public int sessionId(int stream, int sender, int generation) {
        return secret.derive(jobId, "session/" + generation, stream) + sender;
    }

    /**
     * The group tag of the job's receivers (63 bits from the secret): the shards' publications count only status
     * messages that carry it ({@code MemberFlowControl}), so nobody outside the job can hold
     * one back or push it ahead.
     */
    public long groupTag() {
        return ((long) secret.derive(jobId, "gtag", 0) << 32 | (secret.derive(jobId, "gtag", 1) & 0xFFFF_FFFFL))
            & Long.MAX_VALUE;
    }

    public int upstreamStream(int shard) { return streamId(UPSTREAM + shard); }
    public int downstreamStream(int shard) { return streamId(DOWNSTREAM + shard); }
    public int gatherUpstreamStream() { return streamId(GATHER_UPSTREAM); }
    public int gatherDownstreamStream() { return streamId(GATHER_DOWNSTREAM); }
    public int normStream() { return streamId(NORM); }

    /** The gradients' term (all three, where {@code ps.term_length} is given). */
    public int termLength() {
        return terms.upstream();
    }

    private String params(int termLength) {
        return "term-length=" + termLength + "|mtu=" + mtu;
    }

    /** Channel on which shard s receives the gradients of rank {@code rank} (that rank publishes, the server subscribes). */
    public String upstreamChannel(int shard, int rank) {
        return upstreamChannel(shard, rank, 0);
    }

    /** As {@link #upstreamChannel(int, int)}, in generation {@code generation} ({@link #sessionId(int, int, int)}). */
    public String upstreamChannel(int shard, int rank, int generation) {
        return upstream(shardHost(shard), upstreamPorts[shard], sessionId(upstreamStream(shard), rank, generation),
            terms.upstream());
    }

    /**
     * Channel on which shard s publishes averages: manual multi-destination-cast, so only the workers'
     * endpoints added by {@code Destinations} receive it; flow control over the job's members only
     * ({@code MemberFlowControl}) waits for the slowest of them. A later generation's
     * publication shares the channel's endpoint, and so its destinations.
     */
    public String downstreamPublicationChannel(int shard, int generation) {
        return downstreamPublication(shardHost(shard), controlPorts[shard],
            sessionId(downstreamStream(shard), SERVER, generation), terms.answers());
    }

    /** Channel a worker on {@code workerHost}, receiving on {@code port}, subscribes to for shard s's averages. */
    public String downstreamSubscriptionChannel(int shard, String workerHost, int port, int generation) {
        return downstreamSubscription(workerHost, port, sessionId(downstreamStream(shard), SERVER, generation),
            terms.answers());
    }

    /** Channel on which the server receives the gather blobs of {@code sender} (a rank, or {@link #stepReporter()}). */
    public String gatherUpstreamChannel(int sender) {
        return gatherUpstreamChannel(sender, 0);
    }

    /** As {@link #gatherUpstreamChannel(int)}, in generation {@code generation}. */
    public String gatherUpstreamChannel(int sender, int generation) {
        return upstream(host, gatherPort, sessionId(gatherUpstreamStream(), sender, generation), terms.side());
    }

    /** Channel on which the server forwards every rank's gather blob to every worker. */
    public String gatherDownstreamPublicationChannel() {
        return downstreamPublication(host, gatherControlPort, sessionId(gatherDownstreamStream(), SERVER), terms.side());
    }

    /** Channel a worker on {@code workerHost}, receiving on {@code port}, subscribes to for gathered blobs. */
    public String gatherDownstreamSubscriptionChannel(String workerHost, int port) {
        return downstreamSubscription(workerHost, port, sessionId(gatherDownstreamStream(), SERVER), terms.side());
    }

    /** "host:port", with an IPv6 literal in brackets, as Aeron's endpoint parameters want it. */
    public static String endpoint(String host, int port) {
        return (host.indexOf(':') >= 0 && !host.startsWith("[") ? "[" + host + "]" : host) + ":" + port;
    }

    /** The channel a downstream publication adds for a worker JVM receiving on {@code endpoint}. */
    public static String destination(String endpoint) {
        return "aeron:udp?endpoint=" + endpoint;
    }

    /**
     * Channel on which the server of shard s takes the sums of squares of the server {@code senderServer}
     * ({@link #serverOf}), shards on the executors; also the one that server publishes to.
     */
    public String normChannel(int shard, int senderServer) {
        return normChannel(shard, senderServer, 0);
    }

    /** As {@link #normChannel(int, int)}, in generation {@code generation}. */
    public String normChannel(int shard, int senderServer, int generation) {
        return upstream(shardHost(shard), shardHosts.normPorts()[shard], sessionId(normStream(), senderServer,
            generation), terms.side());
    }

    /**
     * The server a shard runs in, named by its first shard (the sender index of its norm frames): shards on
     * one executor share one norm endpoint.
     */
    public int serverOf(int shard) {
        for (int s = 0; s < shard; s++) {
            if (shardHost(s).equals(shardHost(shard)) && shardHosts.normPorts()[s] == shardHosts.normPorts()[shard]) {
                return s;
            }
        }
        return shard;
    }

    private String upstream(String at, int port, int session, int termLength) {
        return transport == Transport.IPC
            ? "aeron:ipc?" + params(termLength) + "|session-id=" + session
            : "aeron:udp?endpoint=" + endpoint(at, port) + "|" + params(termLength) + "|rcv-wnd=" + receiverWindow()
            + "|session-id=" + session;
    }

    /**
     * The receiver window of each sender's image on a channel every worker sends to: the socket buffer shared
     * out among the workers (a power of two, at least one frame). With Aeron's default of the whole buffer per
     * image, N workers bursting a step at once overfilled the socket and the kernel dropped datagrams: measured
     * (4M floats, 2 shards, loopback) 7,400 NAKs per 14 steps with 4 workers and 59,000 with 8, steps of 70-185
     * and 160-420 ms; with the window shared out, no NAK and steady 70 and 140 ms.
     */
    int receiverWindow() {
        int frame = Integer.highestOneBit(mtu - 1) << 1;
        return Math.max(frame, Integer.highestOneBit(SOCKET_BUFFER / Math.max(1, workers)));
    }

    private String downstreamPublication(String at, int controlPort, int session, int termLength) {
        return transport == Transport.IPC
            ? "aeron:ipc?" + params(termLength) + "|session-id=" + session
            : "aeron:udp?control=" + endpoint(at, controlPort) + "|control-mode=manual|fc=tagged,g:" + groupTag()
            + "|" + params(termLength) + "|session-id=" + session;
    }

    /** The term length and MTU ride along so the receiving endpoint refuses SETUPs naming others. */
    private String downstreamSubscription(String workerHost, int port, int session, int termLength) {
        return transport == Transport.IPC ? "aeron:ipc?session-id=" + session
            : destination(endpoint(workerHost, port)) + "|" + params(termLength) + "|gtag=" + groupTag() + "|session-id=" + session;
    }

    @Override
    public String toString() {
        return "ExchangeSpec[job=" + Long.toHexString(jobId) + ", " + layout + ", workers=" + workers
            + ", " + transport + (wire != WireFormat.FP32 ? ", wire " + wire.configName() : "")
            + (optimizer != null ? ", optimizer on the server (" + optimizer.rule().kind() + ")" : "")
            + (shardHosts != null ? ", shards on " + Arrays.toString(shardHosts.hosts()) : "")
            + (transport == Transport.UDP ? " " + host + " up=" + Arrays.toString(upstreamPorts)
            + " control=" + Arrays.toString(controlPorts) + " gather=" + gatherPort + "/" + gatherControlPort
            : "") + "]";
    }
}
