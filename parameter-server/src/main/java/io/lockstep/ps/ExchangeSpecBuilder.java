package io.lockstep.ps;

import io.lockstep.ps.ExchangeSpec.ShardHosts;
import io.lockstep.ps.ExchangeSpec.Transport;
import io.lockstep.ps.media.FreePorts;
import io.lockstep.ps.media.PortRange;
import io.lockstep.ps.optim.ServerOptimizer;
import io.lockstep.ps.wire.JobSecret;
import io.lockstep.ps.wire.WireFormat;

import java.util.Arrays;
import java.util.Objects;

/**
 * The settings of an {@link ExchangeSpec}, each named: job, layout and workers are given; the rest default to UDP
 * on 127.0.0.1, {@link ExchangeSpec#DEFAULT_TERM_LENGTH}, {@link ExchangeSpec#DEFAULT_MTU}, a 60 s stall budget from
 * step 0, a fresh {@link JobSecret#random() secret}, the optimizer on the workers and float32 on the wire. Ports not
 * given are picked free on the host, within {@link PortRange#AUTO} unless set, at {@link #build()} (in one go, so all are distinct; none for IPC). The spec
 * checks the settings together when it is built ({@link ExchangeRules}).
 */
public final class ExchangeSpecBuilder {
    private final long jobId;
    private final ShardLayout layout;
    private final int workers;
    private Transport transport = Transport.UDP;
    private String host = "127.0.0.1";
    private int[] upstreamPorts;
    private int[] controlPorts;
    private int gatherPort;
    private int gatherControlPort;
    private Terms terms = Terms.of(ExchangeSpec.DEFAULT_TERM_LENGTH);
    private int mtu = ExchangeSpec.DEFAULT_MTU;
    private long timeoutMillis = 60_000;
    private long firstStep;
    private JobSecret secret;
    private ServerOptimizer optimizer;
    private WireFormat wire = WireFormat.FP32;
    private ShardHosts shardHosts;
    private PortRange portRange = PortRange.AUTO;
    private String aeronDir;

    ExchangeSpecBuilder(long jobId, ShardLayout layout, int workers) {
        this.jobId = jobId;
        this.layout = Objects.requireNonNull(layout, "layout");
        this.workers = workers;
    }

    /** Every setting of {@code spec}. */
    ExchangeSpecBuilder(ExchangeSpec spec) {
        this(spec.jobId(), spec.layout(), spec.workers());
        transport = spec.transport();
        host = spec.host();
        upstreamPorts = spec.upstreamPorts();
        controlPorts = spec.controlPorts();
        gatherPort = spec.gatherPort();
        gatherControlPort = spec.gatherControlPort();
        terms = spec.terms();
        mtu = spec.mtu();
        timeoutMillis = spec.timeoutMillis();
        firstStep = spec.firstStep();
        secret = spec.secret();
        optimizer = spec.optimizer();
        wire = spec.wire();
        shardHosts = spec.shardHosts();
        portRange = spec.ports();
        aeronDir = spec.aeronDir();
    }

    public ExchangeSpecBuilder transport(Transport value) {
        transport = Objects.requireNonNull(value, "transport");
        return this;
    }

    /** The driver's address: where the shards (unless on the executors) and the gather endpoint listen. */
    public ExchangeSpecBuilder host(String value) { host = Objects.requireNonNull(value, "host"); return this; }

    /** Shard s's gradient and control ports, and the gather endpoint's pair (else picked free at {@link #build}). */
    public ExchangeSpecBuilder ports(int[] upstream, int[] control, int gather, int gatherControl) {
        upstreamPorts = upstream;
        controlPorts = control;
        gatherPort = gather;
        gatherControlPort = gatherControl;
        return this;
    }

    /** Where the receive endpoints' ports are picked, on the driver and on the executors ({@code ps.ports}). */
    public ExchangeSpecBuilder portRange(PortRange value) { portRange = Objects.requireNonNull(value, "ports"); return this; }

    /** One term length for every stream. */
    public ExchangeSpecBuilder termLength(int value) { terms = Terms.of(value); return this; }

    /** The term length of each kind of stream ({@code ps.term_length: auto}, {@link ExchangeRules#autoTerms}). */
    public ExchangeSpecBuilder terms(Terms value) { terms = Objects.requireNonNull(value, "terms"); return this; }

    public ExchangeSpecBuilder mtu(int value) { mtu = value; return this; }

    /** The job's stall budget ({@code ps.timeout_seconds}). */
    public ExchangeSpecBuilder timeoutMillis(long value) { timeoutMillis = value; return this; }

    /** The first step the workers exchange (a resumed job's). */
    public ExchangeSpecBuilder firstStep(long value) { firstStep = value; return this; }

    public ExchangeSpecBuilder secret(JobSecret value) {
        secret = Objects.requireNonNull(value, "every frame is authenticated: an exchange needs its job's secret");
        return this;
    }

    /** The optimizer on the shards; {@code null}: on the workers. */
    public ExchangeSpecBuilder optimizer(ServerOptimizer value) { optimizer = value; return this; }

    /** How gradients (and averages) travel; {@code null}: float32. */
    public ExchangeSpecBuilder wire(WireFormat value) { wire = value; return this; }

    /** Where the media drivers put their files ({@code ps.aeron_dir}); {@code null}: /dev/shm. */
    public ExchangeSpecBuilder aeronDir(String value) { aeronDir = value; return this; }

    /** Shards on the executors ({@link ExchangeSpec#withShardEndpoints}): where each runs, and its two ports. */
    ExchangeSpecBuilder shardEndpoints(ShardHosts hosts, int[] upstream, int[] control) {
        shardHosts = hosts;
        upstreamPorts = upstream;
        controlPorts = control;
        return this;
    }

    public ExchangeSpec build() {
        int[] upstream = upstreamPorts;
        int[] control = controlPorts;
        int gather = gatherPort;
        int gatherControl = gatherControlPort;
        if (upstream == null || control == null) {
            int shards = layout.shards();
            int count = 2 * shards + 2;
            int[] ports = transport == Transport.UDP ? FreePorts.udp(host, count, portRange) : new int[count];
            upstream = Arrays.copyOfRange(ports, 0, shards);
            control = Arrays.copyOfRange(ports, shards, 2 * shards);
            gather = ports[2 * shards];
            gatherControl = ports[2 * shards + 1];
        }
        return new ExchangeSpec(jobId, layout, workers, transport, host, upstream, control, gather, gatherControl,
            terms, mtu, timeoutMillis, firstStep, secret != null ? secret : JobSecret.random(), optimizer, wire,
            shardHosts, portRange, aeronDir);
    }
}
