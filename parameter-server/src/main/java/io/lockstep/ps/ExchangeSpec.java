package io.lockstep.ps;

import io.lockstep.ps.optim.ServerOptimizer;

import java.io.Serializable;
import java.util.Arrays;
import java.util.Objects;

/**
 * Everything a worker needs to reach the parameter server, shipped to Spark tasks as-is, with the
 * job's {@link JobSecret} (which no {@code toString} shows).
 *
 * <p>UDP: shard s listens for gradients on {@code host:upstreamPorts[s]} and answers with a
 * multi-destination-cast publication bound to {@code host:controlPorts[s]} (where the workers' status
 * messages and NAKs come back) in manual control mode: it sends only to the receive endpoints that the
 * job's workers named in authenticated JOIN frames ({@link Destinations}), one per worker JVM, picked
 * by that JVM; the server needs no worker address up front. The all-gather has one such pair of its own
 * ({@code gatherPort}, {@code gatherControlPort}), served by one endpoint for the whole server rather
 * than per shard.
 * IPC: the same streams over shared memory, for workers in the server's JVM.
 *
 * <p>{@code timeoutMillis} ({@code ps.timeout_seconds}) is the job's one stall budget: the longest any
 * wait of a worker or of a server shard may last before it fails naming rank and step. Aeron's own
 * liveness timeouts are set above it ({@link EmbeddedAeron}), so a pause within the budget is survived.
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
    int termLength,
    int mtu,
    long timeoutMillis,
    long firstStep,
    JobSecret secret,
    ServerOptimizer optimizer,
    WireFormat wire,
    ShardHosts shardHosts
) implements Serializable {

    public enum Transport { UDP, IPC }

    /** Aeron frame header in front of every message. */
    public static final int AERON_HEADER = 32;
    public static final int UPSTREAM_STREAM_BASE = 1000;
    public static final int DOWNSTREAM_STREAM_BASE = 2000;
    public static final int GATHER_UPSTREAM_STREAM = 3000;
    public static final int GATHER_DOWNSTREAM_STREAM = 3001;
    public static final int NORM_STREAM = 4000;
    public static final int DEFAULT_MTU = 65504;
    public static final int DEFAULT_TERM_LENGTH = 8 * 1024 * 1024;

    public ExchangeSpec {
        if (transport == Transport.UDP
            && (upstreamPorts.length != layout.shards() || controlPorts.length != layout.shards())) {
            throw new IllegalArgumentException("need one upstream and one control port per shard, got "
                + Arrays.toString(upstreamPorts) + " and " + Arrays.toString(controlPorts));
        }
        if (mtu % 32 != 0 || mtu < 4096 || mtu > DEFAULT_MTU) {
            throw new IllegalArgumentException("mtu must be a multiple of 32 in [4096, 65504], got " + mtu);
        }
        if (layout.chunkValues() > chunkValuesFor(mtu)) {
            throw new IllegalArgumentException("chunks of " + layout.chunkValues() + " values do not fit one frame of mtu "
                + mtu + " (at most " + chunkValuesFor(mtu) + ")");
        }
        Objects.requireNonNull(secret, "every frame is authenticated: an exchange needs its job's secret");
        if (optimizer != null && optimizer.roles().length() != layout.paramCount()) {
            throw new IllegalArgumentException("the server optimizer covers " + optimizer.roles().length()
                + " parameters, the layout " + layout.paramCount());
        }
        if (wire == null) {
            wire = WireFormat.FP32;
        }
        if (shardHosts != null && (shardHosts.hosts().length != layout.shards()
            || shardHosts.normPorts().length != layout.shards() || transport != Transport.UDP)) {
            throw new IllegalArgumentException("shards on the executors need UDP and a host and a norm port per shard");
        }
    }

    /**
     * Where the shards run when they run on the executors: shard s on {@code hosts[s]}, whose server
     * receives the other servers' sums of squares on {@code normPorts[s]} (the same port for every shard of
     * one server).
     */
    public record ShardHosts(String[] hosts, int[] normPorts) implements Serializable {
    }

    /** This spec with another secret ({@link JobSecret#plaintextForBenchmarks()} for the benchmarks' clear frames). */
    public ExchangeSpec withSecret(JobSecret other) {
        return new ExchangeSpec(jobId, layout, workers, transport, host, upstreamPorts, controlPorts, gatherPort,
            gatherControlPort, termLength, mtu, timeoutMillis, firstStep, other, optimizer, wire, shardHosts);
    }

    /** A spec whose shards (if any) run in the driver's JVM. */
    public ExchangeSpec(long jobId, ShardLayout layout, int workers, Transport transport, String host,
                        int[] upstreamPorts, int[] controlPorts, int gatherPort, int gatherControlPort, int termLength,
                        int mtu, long timeoutMillis, long firstStep, JobSecret secret, ServerOptimizer optimizer,
                        WireFormat wire) {
        this(jobId, layout, workers, transport, host, upstreamPorts, controlPorts, gatherPort, gatherControlPort,
            termLength, mtu, timeoutMillis, firstStep, secret, optimizer, wire, null);
    }

    /** A spec whose shards send back averages (the optimizer runs on every worker). */
    public ExchangeSpec(long jobId, ShardLayout layout, int workers, Transport transport, String host,
                        int[] upstreamPorts, int[] controlPorts, int gatherPort, int gatherControlPort, int termLength,
                        int mtu, long timeoutMillis, long firstStep, JobSecret secret) {
        this(jobId, layout, workers, transport, host, upstreamPorts, controlPorts, gatherPort, gatherControlPort,
            termLength, mtu, timeoutMillis, firstStep, secret, null, WireFormat.FP32);
    }

    /** A spec whose gradients travel as float32. */
    public ExchangeSpec(long jobId, ShardLayout layout, int workers, Transport transport, String host,
                        int[] upstreamPorts, int[] controlPorts, int gatherPort, int gatherControlPort, int termLength,
                        int mtu, long timeoutMillis, long firstStep, JobSecret secret, ServerOptimizer optimizer) {
        this(jobId, layout, workers, transport, host, upstreamPorts, controlPorts, gatherPort, gatherControlPort,
            termLength, mtu, timeoutMillis, firstStep, secret, optimizer, WireFormat.FP32);
    }

    /** This spec with the optimizer on the shards ({@code null}: on the workers). */
    public ExchangeSpec withOptimizer(ServerOptimizer serverOptimizer) {
        return new ExchangeSpec(jobId, layout, workers, transport, host, upstreamPorts, controlPorts, gatherPort,
            gatherControlPort, termLength, mtu, timeoutMillis, firstStep, secret, serverOptimizer, wire, shardHosts);
    }

    /** This spec with gradients (and averages) travelling in {@code format} ({@code null}: float32). */
    public ExchangeSpec withWire(WireFormat format) {
        return new ExchangeSpec(jobId, layout, workers, transport, host, upstreamPorts, controlPorts, gatherPort,
            gatherControlPort, termLength, mtu, timeoutMillis, firstStep, secret, optimizer, format, shardHosts);
    }

    /**
     * This spec with its shards on the executors: shard s listening on {@code hosts[s]} at
     * {@code upstreamPorts[s]}, publishing with control port {@code controlPorts[s]}, its server taking the
     * norm reduction on {@code normPorts[s]}.
     */
    public ExchangeSpec withShardEndpoints(String[] hosts, int[] upstream, int[] control, int[] norm) {
        return new ExchangeSpec(jobId, layout, workers, transport, host, upstream, control, gatherPort,
            gatherControlPort, termLength, mtu, timeoutMillis, firstStep, secret, optimizer, wire,
            new ShardHosts(hosts, norm));
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

    /**
     * A spec with free UDP ports on {@code host} for every shard and for the gather endpoint (picked
     * in one go, so all are distinct), or none for IPC, and a fresh {@link JobSecret#random() secret}.
     */
    public static ExchangeSpec create(long jobId, ShardLayout layout, int workers, Transport transport, String host,
                                      int termLength, int mtu, long timeoutMillis, long firstStep) {
        int shards = layout.shards();
        int count = 2 * shards + 2;
        int[] ports = transport == Transport.UDP ? FreePorts.udp(host, count) : new int[count];
        return new ExchangeSpec(jobId, layout, workers, transport, host, Arrays.copyOfRange(ports, 0, shards),
            Arrays.copyOfRange(ports, shards, 2 * shards), ports[2 * shards], ports[2 * shards + 1],
            termLength, mtu, timeoutMillis, firstStep, JobSecret.random());
    }

    /** Largest chunk (in floats) that fits one frame of the given MTU. */
    public static int chunkValuesFor(int mtu) {
        return (mtu - AERON_HEADER - GradientFrame.HEADER_LENGTH - FrameHeader.TAG_LENGTH) / Float.BYTES;
    }

    /** Largest piece of a gather blob (in bytes) that fits one frame of the given MTU. */
    public static int gatherChunkBytesFor(int mtu) {
        return mtu - AERON_HEADER - GatherFrame.HEADER_LENGTH - FrameHeader.TAG_LENGTH;
    }

    public int upstreamStream(int shard) { return UPSTREAM_STREAM_BASE + shard; }
    public int downstreamStream(int shard) { return DOWNSTREAM_STREAM_BASE + shard; }

    private String params() {
        return "term-length=" + termLength + "|mtu=" + mtu;
    }

    /** Channel on which shard s receives gradients (server subscribes, workers publish). */
    public String upstreamChannel(int shard) {
        return upstream(shardHost(shard), upstreamPorts[shard]);
    }

    /**
     * Channel on which shard s publishes averages: manual multi-destination-cast, so only the workers'
     * endpoints added by {@link Destinations} receive it; min flow control waits for the slowest of them.
     */
    public String downstreamPublicationChannel(int shard) {
        return downstreamPublication(shardHost(shard), controlPorts[shard]);
    }

    /** Channel a worker on {@code workerHost}, receiving on {@code port}, subscribes to for shard s's averages. */
    public String downstreamSubscriptionChannel(int shard, String workerHost, int port) {
        return downstreamSubscription(workerHost, port);
    }

    /** Channel on which the server receives gather blobs, stream {@link #GATHER_UPSTREAM_STREAM}. */
    public String gatherUpstreamChannel() {
        return upstream(host, gatherPort);
    }

    /** Channel on which the server forwards every rank's gather blob to every worker. */
    public String gatherDownstreamPublicationChannel() {
        return downstreamPublication(host, gatherControlPort);
    }

    /** Channel a worker on {@code workerHost}, receiving on {@code port}, subscribes to for gathered blobs. */
    public String gatherDownstreamSubscriptionChannel(String workerHost, int port) {
        return downstreamSubscription(workerHost, port);
    }

    /** "host:port", with an IPv6 literal in brackets, as Aeron's endpoint parameters want it. */
    public static String endpoint(String host, int port) {
        return (host.indexOf(':') >= 0 && !host.startsWith("[") ? "[" + host + "]" : host) + ":" + port;
    }

    /** The channel a downstream publication adds for a worker JVM receiving on {@code endpoint}. */
    static String destination(String endpoint) {
        return "aeron:udp?endpoint=" + endpoint;
    }

    /**
     * Channel on which the server of shard s takes the other servers' sums of squares (shards on the
     * executors); also the one its peers publish to.
     */
    public String normChannel(int shard) {
        return upstream(shardHost(shard), shardHosts.normPorts()[shard]);
    }

    private String upstream(String at, int port) {
        return transport == Transport.IPC
            ? "aeron:ipc?" + params()
            : "aeron:udp?endpoint=" + endpoint(at, port) + "|" + params() + "|rcv-wnd=" + receiverWindow();
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
        return Math.max(frame, Integer.highestOneBit(EmbeddedAeron.SOCKET_BUFFER / Math.max(1, workers)));
    }

    private String downstreamPublication(String at, int controlPort) {
        return transport == Transport.IPC
            ? "aeron:ipc?" + params()
            : "aeron:udp?control=" + endpoint(at, controlPort) + "|control-mode=manual|fc=min|" + params();
    }

    private String downstreamSubscription(String workerHost, int port) {
        return transport == Transport.IPC ? "aeron:ipc" : destination(endpoint(workerHost, port));
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
