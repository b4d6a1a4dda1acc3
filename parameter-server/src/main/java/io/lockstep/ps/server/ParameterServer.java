package io.lockstep.ps.server;

import io.aeron.Aeron;
import io.aeron.Publication;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.media.IdleStrategies;
import io.lockstep.ps.optim.SliceOptimizer;
import io.lockstep.ps.session.BoundSubscriptions;
import io.lockstep.ps.wire.JoinFrame;
import org.agrona.CloseHelper;
import org.agrona.concurrent.Agent;
import org.agrona.concurrent.AgentRunner;
import org.agrona.concurrent.CompositeAgent;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import io.lockstep.ps.media.WireGuards;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The sharded aggregation server: one {@link ShardAgent} per shard, each on its own thread,
 * each owning one range of the flat gradient. Shard 0 reports finished steps to the
 * {@link StepListener}; its thread also serves the all-gather ({@link GatherAgent}) and reports
 * gathered rounds to the {@link GatherListener}.
 *
 * <p>Where the shards run on the executors ({@link ExchangeSpec#shardsOnExecutors()}), one job has several
 * servers: the driver's {@link #startGather} (the all-gather endpoint, which takes shard 0's step reports
 * from a {@link StepReporter}) and one {@link #startShards} per hosting rank, whose shards share the norm
 * reduction with the other servers' through a {@link NormLink}.
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
    private final DropCounters drops = new DropCounters();       // the shards' (and their norm link's)
    private final DropCounters gatherDrops = new DropCounters(); // the all-gather endpoint's (and step reports')
    private final ResendCounters resends = new ResendCounters();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final ExchangeSpec spec;
    private final GatherAggregator gather;
    private final WaitingBoard waiting; // a slot per shard, then the gather endpoint's
    private final int[] hosted;         // the shards this server runs
    private final ShardAgent[] agents;  // by shard: those it runs
    private Publication gatherDownstream;
    private WireGuards guards;                 // this server's media driver's
    private Map<String, Long> guardsAtStart;
    private final boolean hostsGather;

    private ParameterServer(ExchangeSpec spec, int[] hosted, boolean hostsGather) {
        this.spec = spec;
        this.hosted = hosted;
        this.hostsGather = hostsGather;
        this.gather = new GatherAggregator(spec.jobId(), spec.workers(), spec.mtu(), spec.secret(), gatherDrops);
        this.waiting = new WaitingBoard(spec.layout().shards() + 1);
        this.agents = new ShardAgent[spec.layout().shards()];
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
        return launch(aeron, spec, allShards(spec), true, listener, gatherListener, params, state);
    }

    /**
     * The driver's part when the shards run on the executors ({@link ExchangeSpec#shardsOnExecutors()}):
     * the all-gather endpoint, which also takes shard 0's step reports for {@code listener}.
     */
    public static ParameterServer startGather(Aeron aeron, ExchangeSpec spec, StepListener listener,
                                              GatherListener gatherListener) {
        return launch(aeron, spec, new int[0], true, listener, gatherListener, null, null);
    }

    /**
     * An executor's part when the shards run on the executors: {@code shards} of the job (their slices of
     * {@code params} and {@code state} as in {@link #start}), the norm reduction shared with the other
     * executors' servers, and, with shard 0, the step reports to the driver.
     */
    public static ParameterServer startShards(Aeron aeron, ExchangeSpec spec, int[] shards, float[] params,
                                              float[] state) {
        if (!spec.shardsOnExecutors() || shards.length == 0) {
            throw new IllegalArgumentException("an executor hosts some shards of a spec with shards on the executors");
        }
        return launch(aeron, spec, shards.clone(), false, StepListener.NONE, GatherListener.NONE, params, state);
    }

    private static int[] allShards(ExchangeSpec spec) {
        if (spec.shardsOnExecutors()) {
            throw new IllegalArgumentException("the shards of " + spec + " run on the executors: startGather here,"
                + " startShards there");
        }
        return java.util.stream.IntStream.range(0, spec.layout().shards()).toArray();
    }

    private static ParameterServer launch(Aeron aeron, ExchangeSpec spec, int[] shards, boolean hostsGather,
                                          StepListener listener, GatherListener gatherListener, float[] params,
                                          float[] state) {
        if (spec.serverOptimizer() && shards.length > 0 && params == null) {
            throw new IllegalArgumentException("the optimizer on the server needs the model's starting parameters");
        }
        ParameterServer server = new ParameterServer(spec, shards, hostsGather);
        server.guards = WireGuards.of(aeron.context().aeronDirectoryName());
        server.guardsAtStart = server.guards.refusedFrames();
        try {
            ShardLayout layout = spec.layout();
            boolean udp = spec.transport() == ExchangeSpec.Transport.UDP;
            List<Agent> extras = new ArrayList<>(); // run in the first shard's thread (or alone: gather only)
            if (hostsGather) {
                // every rank, and with shard 0 elsewhere its step reports too
                int[] senders = BoundSubscriptions.range(spec.workers() + (shards.length == 0 ? 1 : 0));
                BoundSubscriptions gatherUp = server.keep(new BoundSubscriptions(aeron, spec.gatherUpstreamStream(),
                    senders, spec::gatherUpstreamChannel));
                Publication gatherDown = server.keep(aeron.addExclusivePublication(
                    spec.gatherDownstreamPublicationChannel(), spec.gatherDownstreamStream()));
                server.gatherDownstream = gatherDown;
                Destinations gatherTo = udp ? new Destinations(gatherDown, spec.secret(), spec.jobId(), spec.workers(),
                    JoinFrame.GATHER_TARGET, server.gatherDrops) : null;
                extras.add(new GatherAgent(server.gather, gatherUp, gatherDown, gatherTo, spec.jobId(), spec.workers(),
                    spec.mtu(), spec.secret(), spec.timeoutMillis(), server.gatherDrops, gatherListener, server.waiting,
                    layout.shards(), shards.length == 0 ? listener : null, // shard 0 elsewhere: its reports come here
                    server.resends));
            }
            NormReduction reduction = spec.serverOptimizer() ? new NormReduction(layout.shards(),
                spec.shardsOnExecutors() ? hostRanks(spec) : null) : null;
            if (reduction != null && shards.length > 0 && shards.length < layout.shards()) {
                extras.add(normLink(aeron, spec, shards, reduction, server));
            }
            StepListener shard0 = listener;
            if (spec.shardsOnExecutors() && shards.length > 0 && shards[0] == 0) {
                StepReporter reporter = new StepReporter(server.keep(aeron.addExclusivePublication(
                    spec.gatherUpstreamChannel(spec.stepReporter()), spec.gatherUpstreamStream())), spec.jobId(),
                    spec.secret());
                extras.add(reporter);
                shard0 = reporter;
            }
            for (int s : shards) {
                SliceOptimizer optimizer = null;
                if (spec.serverOptimizer()) {
                    optimizer = new SliceOptimizer(spec.optimizer().rule(), spec.optimizer().roles(),
                        layout.shardStart(s), layout.shardLength(s));
                    optimizer.load(params, state);
                }
                int shard = s;
                BoundSubscriptions up = server.keep(new BoundSubscriptions(aeron, spec.upstreamStream(s),
                    BoundSubscriptions.range(spec.workers()), (rank, generation) -> spec.upstreamChannel(shard, rank,
                    generation)));
                // not kept with the server's resources: the agent replaces it when the answers start over and closes it
                Publication down = aeron.addExclusivePublication(spec.downstreamPublicationChannel(s, 0),
                    spec.downstreamStream(s));
                ShardAggregator aggregator = new ShardAggregator(spec.jobId(), s, layout, spec.workers(),
                    spec.firstStep(), spec.secret(), server.drops, spec.wire());
                Destinations to = udp ? new Destinations(down, spec.secret(), spec.jobId(), spec.workers(), s,
                    server.drops) : null;
                ShardAgent shardAgent = new ShardAgent(aggregator, up, down, to, layout, spec.jobId(), spec.secret(),
                    spec.timeoutMillis(), server.drops, s == 0 ? shard0 : StepListener.NONE, optimizer, reduction,
                    spec.workers(), server.waiting, server.resends,
                    generation -> aeron.addExclusivePublication(spec.downstreamPublicationChannel(shard, generation),
                        spec.downstreamStream(shard)));
                server.agents[s] = shardAgent;
                Agent agent = shardAgent;
                if (s == shards[0] && !extras.isEmpty()) {
                    extras.add(0, agent);
                    agent = new CompositeAgent(extras);
                }
                server.runners.add(new AgentRunner(IdleStrategies.server(), server::onError, null, agent));
            }
            if (shards.length == 0) {
                server.runners.add(new AgentRunner(IdleStrategies.server(), server::onError, null,
                    extras.size() == 1 ? extras.get(0) : new CompositeAgent(extras)));
            }
            for (AgentRunner runner : server.runners) {
                AgentRunner.startOnThread(runner);
            }
        } catch (RuntimeException e) {
            server.close();
            throw e;
        }
        LOG.info("parameter server up{}: {}", shards.length == spec.layout().shards() ? ""
            : shards.length == 0 ? " (all-gather endpoint; shards on the executors)"
            : " (shards " + java.util.Arrays.toString(shards) + ")", spec);
        return server;
    }

    /**
     * The norm reduction's link to the servers of the other shards: a subscription on this server's norm
     * endpoint and a publication to each other server's.
     */
    private static NormLink normLink(Aeron aeron, ExchangeSpec spec, int[] shards, NormReduction reduction,
                                     ParameterServer server) {
        int self = spec.serverOf(shards[0]);
        int[] others = java.util.stream.IntStream.range(0, spec.layout().shards())
            .filter(s -> spec.serverOf(s) == s && s != self).toArray(); // each other server, by its first shard
        BoundSubscriptions in = server.keep(new BoundSubscriptions(aeron, spec.normStream(), others,
            (sender, generation) -> spec.normChannel(self, sender, generation)));
        Publication[] peers = new Publication[others.length];
        for (int i = 0; i < others.length; i++) {
            peers[i] = server.keep(aeron.addExclusivePublication(spec.normChannel(others[i], self), spec.normStream()));
        }
        return new NormLink(reduction, spec.jobId(), spec.secret(), spec.layout().shards(), shards, in,
            peers, server.drops);
    }

    /** " (next to rank r)" by shard: where a shard that never posted its norm runs, for the deadline message. */
    private static String[] hostRanks(ExchangeSpec spec) {
        int shards = spec.layout().shards();
        String[] where = new String[shards];
        for (int s = 0; s < shards; s++) {
            where[s] = " (next to rank " + ExchangeSpec.hostRank(s, shards, spec.workers()) + ")";
        }
        return where;
    }

    private <T extends AutoCloseable> T keep(T resource) {
        resources.add(resource);
        return resource;
    }

    private void onError(Throwable e) {
        failure.compareAndSet(null, e);
        LOG.error("parameter-server shard failed", e);
    }

    public ExchangeSpec spec() {
        return spec;
    }

    /** Frames the shards of this server (and their norm link) refused. */
    public DropCounters drops() {
        return drops;
    }

    /**
     * Frames this server's media driver refused below Lockstep's frames since the server started, by kind
     * ({@link WireGuards#refusedFrames()}): a stranger's SETUPs and data, SETUPs naming another term length or MTU,
     * status messages without the job's group tag. Servers that share a driver (in one JVM) see the same counts.
     */
    public Map<String, Long> mediaDrops() {
        Map<String, Long> now = guards.refusedFrames();
        now.replaceAll((kind, n) -> n - guardsAtStart.getOrDefault(kind, 0L));
        return now;
    }

    /** Shard {@code shard}'s answers' publication, if this server runs it (tests: what an on-path attacker sees). */
    Publication downstreamPublication(int shard) {
        return agents[shard].downstream();
    }

    /** The gathered blobs' publication, if this server is the gather endpoint (tests: what an attacker sees). */
    Publication gatherDownstreamPublication() {
        return gatherDownstream;
    }

    /** What the shards of this server did to recover lost or forged-over frames. */
    public ResendCounters resends() {
        return resends;
    }

    /** Frames the all-gather endpoint of this server (and the step reports it takes) refused. */
    public DropCounters gatherDrops() {
        return gatherDrops;
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
            boolean mine = s < shards ? runs(s) : hostsGather;
            String line = mine ? waiting.describe(s, s < shards ? "shard " + s + " step" : "gather round") : "";
            if (!line.isEmpty()) {
                sb.append(sb.length() == 0 ? "" : "; ").append(line);
            }
        }
        return sb.toString();
    }

    /** True when this server runs shard s. */
    private boolean runs(int shard) {
        for (int h : hosted) {
            if (h == shard) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void close() {
        CloseHelper.closeAll(runners);
        CloseHelper.closeAll(resources);
        runners.clear();
        resources.clear();
    }
}
