package io.lockstep.ps;

import io.aeron.Aeron;
import io.aeron.Publication;
import io.aeron.Subscription;
import io.lockstep.ps.optim.SliceOptimizer;
import org.agrona.CloseHelper;
import org.agrona.ErrorHandler;
import org.agrona.concurrent.Agent;
import org.agrona.concurrent.AgentRunner;
import org.agrona.concurrent.CompositeAgent;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The sharded aggregation server: one {@link ShardAgent} per shard, each on its own thread,
 * each owning one range of the flat gradient. Shard 0 reports finished steps to the
 * {@link StepListener}; its thread also serves the all-gather ({@link GatherAgent}) and reports
 * gathered rounds to the {@link GatherListener}.
 *
 * <p>Membership: nothing is summed or forwarded unless its tag proves it was sealed by a rank of the
 * job with the job's secret ({@link ExchangeSpec#secret()}), and averages and gathered blobs go only
 * to the receive endpoints the job's workers named in authenticated JOIN frames ({@link Destinations}).
 * The workers send those themselves ({@link GradientClient#awaitConnected()}), so the driver only starts
 * the server with the spec it ships to the tasks. See THREAT-MODEL.md.
 */
public final class ParameterServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ParameterServer.class);

    private final List<AgentRunner> runners = new ArrayList<>();
    private final List<AutoCloseable> resources = new ArrayList<>();
    private final List<ShardAggregator> aggregators = new ArrayList<>();
    private final DropCounters drops = new DropCounters();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final ExchangeSpec spec;
    private final GatherAggregator gather;

    private ParameterServer(ExchangeSpec spec) {
        this.spec = spec;
        this.gather = new GatherAggregator(spec.jobId(), spec.workers(), spec.mtu(), spec.secret(), drops);
    }

    public static ParameterServer start(Aeron aeron, ExchangeSpec spec, StepListener listener) {
        return start(aeron, spec, listener, GatherListener.NONE);
    }

    public static ParameterServer start(Aeron aeron, ExchangeSpec spec, StepListener listener,
                                        GatherListener gatherListener) {
        if (spec.serverOptimizer()) {
            throw new IllegalArgumentException("the optimizer on the server needs the model's starting parameters:"
                + " use start(aeron, spec, listener, gatherListener, params, state)");
        }
        return start(aeron, spec, listener, gatherListener, null, null);
    }

    /**
     * Starts the server; with {@code spec.optimizer()} set, each shard takes its slice of {@code params}
     * and of the optimizer {@code state} (slot-major over the whole vector; null or empty: a fresh start)
     * and applies the optimizer step itself.
     */
    public static ParameterServer start(Aeron aeron, ExchangeSpec spec, StepListener listener,
                                        GatherListener gatherListener, float[] params, float[] state) {
        if (spec.serverOptimizer() && params == null) {
            throw new IllegalArgumentException("the optimizer on the server needs the model's starting parameters");
        }
        ParameterServer server = new ParameterServer(spec);
        try {
            ShardLayout layout = spec.layout();
            Subscription gatherUp = aeron.addSubscription(spec.gatherUpstreamChannel(),
                ExchangeSpec.GATHER_UPSTREAM_STREAM);
            server.resources.add(gatherUp);
            Publication gatherDown = aeron.addExclusivePublication(spec.gatherDownstreamPublicationChannel(),
                ExchangeSpec.GATHER_DOWNSTREAM_STREAM);
            server.resources.add(gatherDown);
            boolean udp = spec.transport() == ExchangeSpec.Transport.UDP;
            Destinations gatherTo = udp ? new Destinations(gatherDown, spec.secret(), spec.jobId(), spec.workers(),
                JoinFrame.GATHER_TARGET, server.drops) : null;
            NormReduction reduction = spec.serverOptimizer() ? new NormReduction(layout.shards()) : null;
            for (int s = 0; s < layout.shards(); s++) {
                SliceOptimizer optimizer = null;
                if (spec.serverOptimizer()) {
                    optimizer = new SliceOptimizer(spec.optimizer().rule(), spec.optimizer().roles(),
                        layout.shardStart(s), layout.shardLength(s));
                    optimizer.load(params, state);
                }
                Subscription up = aeron.addSubscription(spec.upstreamChannel(s), spec.upstreamStream(s));
                server.resources.add(up);
                Publication down = aeron.addExclusivePublication(spec.downstreamPublicationChannel(s),
                    spec.downstreamStream(s));
                server.resources.add(down);
                ShardAggregator aggregator = new ShardAggregator(spec.jobId(), s, layout, spec.workers(),
                    spec.firstStep(), spec.secret(), server.drops);
                server.aggregators.add(aggregator);
                Destinations to = udp ? new Destinations(down, spec.secret(), spec.jobId(), spec.workers(), s,
                    server.drops) : null;
                Agent agent = new ShardAgent(aggregator, up, down, to, layout, spec.jobId(), spec.secret(),
                    spec.timeoutMillis(), server.drops, s == 0 ? listener : StepListener.NONE, optimizer, reduction,
                    spec.workers());
                if (s == 0) {
                    agent = new CompositeAgent(agent, new GatherAgent(server.gather, gatherUp, gatherDown, gatherTo,
                        spec.jobId(), spec.workers(), spec.mtu(), spec.secret(), spec.timeoutMillis(), server.drops,
                        gatherListener));
                }
                ErrorHandler onError = e -> {
                    server.failure.compareAndSet(null, e);
                    LOG.error("parameter-server shard failed", e);
                };
                server.runners.add(new AgentRunner(IdleStrategies.server(), onError, null, agent));
            }
            for (AgentRunner runner : server.runners) {
                AgentRunner.startOnThread(runner);
            }
        } catch (RuntimeException e) {
            server.close();
            throw e;
        }
        LOG.info("parameter server up: {}", spec);
        return server;
    }

    public ExchangeSpec spec() {
        return spec;
    }

    public DropCounters drops() {
        return drops;
    }

    /**
     * First error a shard hit, or null; a shard that waited past the stall budget stops with a message
     * naming shard, step (or gather round) and the ranks it waited for.
     */
    public Throwable failure() {
        return failure.get();
    }

    /**
     * Shards still waiting for chunks, and a gather round still waiting for blobs, with the ranks
     * they wait for; for timeout messages.
     */
    public String waitingFor() {
        StringBuilder sb = new StringBuilder();
        for (ShardAggregator a : aggregators) {
            String missing = a.missingRanks();
            if (!missing.isEmpty()) {
                sb.append(sb.length() == 0 ? "" : "; ").append("shard ").append(a.shard())
                    .append(" step ").append(a.step()).append(" waits for rank(s) ").append(missing);
            }
        }
        String gathering = gather.waitingFor();
        if (!gathering.isEmpty()) {
            sb.append(sb.length() == 0 ? "" : "; ").append("gather ").append(gathering);
        }
        return sb.toString();
    }

    @Override
    public void close() {
        CloseHelper.closeAll(runners);
        CloseHelper.closeAll(resources);
        runners.clear();
        resources.clear();
    }
}
