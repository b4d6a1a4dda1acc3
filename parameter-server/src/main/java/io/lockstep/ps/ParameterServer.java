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
    private final DropCounters drops = new DropCounters();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final ExchangeSpec spec;
    private final GatherAggregator gather;
    private final WaitingBoard waiting; // a slot per shard, then the gather endpoint's

    private ParameterServer(ExchangeSpec spec) {
        this.spec = spec;
        this.gather = new GatherAggregator(spec.jobId(), spec.workers(), spec.mtu(), spec.secret(), drops);
        this.waiting = new WaitingBoard(spec.layout().shards() + 1);
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
                    spec.firstStep(), spec.secret(), server.drops, spec.wire());
                Destinations to = udp ? new Destinations(down, spec.secret(), spec.jobId(), spec.workers(), s,
                    server.drops) : null;
                Agent agent = new ShardAgent(aggregator, up, down, to, layout, spec.jobId(), spec.secret(),
                    spec.timeoutMillis(), server.drops, s == 0 ? listener : StepListener.NONE, optimizer, reduction,
                    spec.workers(), server.waiting);
                if (s == 0) {
                    agent = new CompositeAgent(agent, new GatherAgent(server.gather, gatherUp, gatherDown, gatherTo,
                        spec.jobId(), spec.workers(), spec.mtu(), spec.secret(), spec.timeoutMillis(), server.drops,
                        gatherListener, server.waiting, layout.shards()));
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
     * they wait for (ranks 0-63 by number, the rest counted), e.g. "shard 0 step 7 waits for rank(s) 1;
     * gather round 3 waits for rank(s) 0,2"; for timeout messages. Safe from any thread: it reads what the
     * agents publish ({@link WaitingBoard}), never their working state.
     */
    public String waitingFor() {
        StringBuilder sb = new StringBuilder();
        int shards = spec.layout().shards();
        for (int s = 0; s <= shards; s++) {
            String line = waiting.describe(s, s < shards ? "shard " + s + " step" : "gather round");
            if (!line.isEmpty()) {
                sb.append(sb.length() == 0 ? "" : "; ").append(line);
            }
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
