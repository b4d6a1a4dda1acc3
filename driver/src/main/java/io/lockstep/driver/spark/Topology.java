package io.lockstep.driver.spark;

import io.lockstep.driver.config.ShardPlacement;
import io.lockstep.driver.config.ConfigRules;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.Terms;
import io.lockstep.ps.wire.WireFormat;
import io.lockstep.ps.optim.ServerOptimizer;
import io.lockstep.worker.optim.StepSite;

import java.security.SecureRandom;
import java.util.Locale;

/**
 * Where a job's workers and shards run and how gradients travel between them, for a master whose tasks do,
 * or do not, run in the driver's JVM: the rules the job follows and the doctor reports, stated once.
 */
public final class Topology {
    private final JobConfig cfg;
    private final boolean workersInDriver;
    private final String host;

    /**
     * The topology of {@code cfg} when every worker does ({@code workersInDriver}), or does not, run in this JVM, with
     * the driver's endpoints on {@code host} ({@link DriverAddress}).
     */
    public Topology(JobConfig cfg, boolean workersInDriver, String host) {
        this.cfg = cfg;
        this.workersInDriver = workersInDriver;
        this.host = host;
    }

    /** The topology of {@code cfg} in the running Spark application {@code sc}. */
    public static Topology of(JobConfig cfg, org.apache.spark.api.java.JavaSparkContext sc) {
        return new Topology(cfg, workersInDriver(sc.master()), DriverAddress.of(cfg, sc.getConf()));
    }

    /** Embedded Spark ({@code local}, {@code local[N]}): the tasks run in the driver's JVM ({@code local-cluster} not). */
    public static boolean workersInDriver(String master) {
        return master.startsWith("local") && !master.startsWith("local-cluster");
    }

    public boolean workersInDriver() {
        return workersInDriver;
    }

    /** The address the driver's endpoints (the all-gather, and the shards when they run here) bind and announce. */
    public String host() {
        return host;
    }

    /** Every worker in the driver's JVM reduces in memory ({@code ps.local_reduction}): no parameter server at all. */
    public boolean inMemory() {
        return workersInDriver && cfg.ps().localReduction();
    }

    /**
     * {@code ps.transport}; auto: shared memory when every worker runs in this JVM (embedded Spark) and so do the
     * shards, else UDP.
     */
    public ExchangeSpec.Transport transport() {
        return switch (cfg.ps().transport()) {
            // shards on the executors: other JVMs, in general
            case AUTO -> workersInDriver && cfg.ps().shardPlacement() != ShardPlacement.EXECUTORS
                ? ExchangeSpec.Transport.IPC : ExchangeSpec.Transport.UDP;
            case UDP -> ExchangeSpec.Transport.UDP;
            case IPC -> ExchangeSpec.Transport.IPC;
        };
    }

    /**
     * {@code ps.shard_placement}: executors when asked, or (auto) when the workers exchange over UDP outside the driver's
     * JVM; never when every worker runs in the driver's JVM and reduces in memory (no server at all then).
     */
    public boolean shardsOnExecutors() {
        if (cfg.ps().shardPlacement() == ShardPlacement.DRIVER || inMemory()) {
            return false;
        }
        return cfg.ps().shardPlacement() == ShardPlacement.EXECUTORS
            || (!workersInDriver && transport() == ExchangeSpec.Transport.UDP);
    }

    /**
     * Shards of the job, for a model of at least that many parameters: {@code ps.shards}, and with the shards on
     * the executors at least one per worker (up to the limit of 64), so each worker's executor takes its share and
     * none takes everyone's gradient.
     */
    public int shardCount() {
        return shardsOnExecutors() ? Math.min(ConfigRules.MAX_SHARDS, Math.max(cfg.ps().shards(), cfg.workers()))
            : cfg.ps().shards();
    }

    /** {@link #shardCount()} for a model of {@code paramCount} parameters (on the executors, at most one each). */
    public int shardCount(int paramCount) {
        return shardsOnExecutors() ? Math.min(paramCount, shardCount()) : shardCount();
    }

    /** How gradients travel: "memory" (every worker in the driver's JVM, reduced in place), "ipc" or "udp". */
    public String exchangeKind() {
        return inMemory() ? "memory" : transport().name().toLowerCase(Locale.ROOT);
    }

    /** Where the shards run: "none" (the in-memory exchange has no server), "executors" or "driver". */
    public String placement() {
        return inMemory() ? "none" : shardsOnExecutors() ? "executors" : "driver";
    }

    /** How a model of {@code paramCount} parameters is cut into shards and frames at {@code mtu}. */
    public ShardLayout layout(int paramCount, int mtu) {
        return new ShardLayout(paramCount, shardCount(paramCount), ExchangeSpec.chunkValuesFor(mtu));
    }

    /**
     * {@code ps.term_length} resolved for that layout: the exchange's terms, and the doctor's for its estimate of the
     * shared memory. {@code stateSlots}: the optimizer state vectors the shards keep (they answer with float32
     * parameters and send that state for checkpoints); -1: the optimizer on the workers (averages in ps.wire).
     */
    public Terms terms(ShardLayout layout, int mtu, int stateSlots) {
        WireFormat wire = cfg.ps().wire();
        return cfg.ps().termLength().resolve(layout, mtu, wire, stateSlots >= 0 ? WireFormat.FP32 : wire,
            Math.max(0, stateSlots));
    }

    /** The exchange of one attempt: a fresh job id, the shards of this topology, from {@code firstStep}. */
    public ExchangeSpec exchangeSpec(int paramCount, StepSite site, long firstStep) {
        int mtu = cfg.ps().mtu().resolve(host);
        ShardLayout layout = layout(paramCount, mtu);
        return ExchangeSpec.builder(new SecureRandom().nextLong(), layout, cfg.workers()).transport(transport())
            .host(host).terms(terms(layout, mtu, site.isServer() ? site.plan().rule().stateSlots() : -1)).mtu(mtu).portRange(cfg.ps().ports())
            .aeronDir(cfg.ps().aeronDir())
            .timeoutMillis(cfg.ps().timeoutSeconds() * 1000L).firstStep(firstStep).build()
            .withOptimizer(site.isServer() ? new ServerOptimizer(site.plan().rule(), site.plan().roles()) : null)
            .withWire(cfg.ps().wire());
    }
}
