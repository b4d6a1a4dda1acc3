package io.lockstep.driver.spark;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.media.FreePorts;
import io.lockstep.ps.media.PortRange;
import io.lockstep.ps.server.ParameterServer;
import io.lockstep.worker.exchange.WireDrops;
import org.apache.spark.BarrierTaskContext;

import java.util.Arrays;
import java.util.stream.IntStream;

/**
 * The parameter-server shards a rank runs when the shards run on the executors ({@code ps.shard_placement}), and
 * the start of the stage that spreads their endpoints: each rank that hosts shards
 * ({@link ExchangeSpec#hostRank}) picks UDP ports on its executor's address, every rank sends what it picked
 * through the barrier's {@code allGather} and builds the same complete spec from the answers, and then the
 * hosting ranks start their servers. Closed after the stage's last barrier, when no worker needs the
 * shards any more.
 */
final class ExecutorShards implements AutoCloseable {
    private final ExchangeSpec spec;
    private final EmbeddedAeron aeron;      // null: this rank hosts no shard
    private final ParameterServer server;

    private ExecutorShards(ExchangeSpec spec, EmbeddedAeron aeron, ParameterServer server) {
        this.spec = spec;
        this.aeron = aeron;
        this.server = server;
    }

    /** Exchanges the endpoints with every other rank (a barrier: all ranks call it) and starts this rank's shards. */
    static ExecutorShards start(BarrierTaskContext ctx, RunPlan plan, StartPoint from, String host) {
        ExchangeSpec spec = plan.exchange();
        int rank = ctx.partitionId();
        int shards = spec.layout().shards();
        int[] mine = IntStream.range(0, shards)
            .filter(s -> ExchangeSpec.hostRank(s, shards, spec.workers()) == rank).toArray();
        String[] answers = ctx.allGather(mine.length == 0 ? "" : offer(host, mine, spec.ports()));
        ExchangeSpec full = complete(spec, answers);
        if (mine.length == 0) {
            return new ExecutorShards(full, null, null);
        }
        EmbeddedAeron aeron = EmbeddedAeron.forServer(full);
        try {
            return new ExecutorShards(full, aeron, ParameterServer.startShards(aeron.aeron(), full, mine, from.params(),
                from.serverState(plan.stepSite())));
        } catch (RuntimeException e) {
            aeron.close();
            throw e;
        }
    }

    /** "host normPort shard:upstream:control ..." for this rank's shards, with ports free on {@code host}. */
    static String offer(String host, int[] shards, PortRange range) {
        int[] ports = FreePorts.udp(host, 2 * shards.length + 1, range);
        StringBuilder sb = new StringBuilder(host).append(' ').append(ports[2 * shards.length]);
        for (int i = 0; i < shards.length; i++) {
            sb.append(' ').append(shards[i]).append(':').append(ports[2 * i]).append(':').append(ports[2 * i + 1]);
        }
        return sb.toString();
    }

    /** The spec with every shard's endpoint, from every rank's {@link #offer} (empty for ranks hosting none). */
    static ExchangeSpec complete(ExchangeSpec spec, String[] answers) {
        int shards = spec.layout().shards();
        String[] hosts = new String[shards];
        int[] upstream = new int[shards];
        int[] control = new int[shards];
        int[] norm = new int[shards];
        for (String answer : answers) {
            if (answer.isEmpty()) {
                continue;
            }
            String[] parts = answer.split(" ");
            for (int i = 2; i < parts.length; i++) {
                String[] p = parts[i].split(":");
                int s = Integer.parseInt(p[0]);
                hosts[s] = parts[0];
                norm[s] = Integer.parseInt(parts[1]);
                upstream[s] = Integer.parseInt(p[1]);
                control[s] = Integer.parseInt(p[2]);
            }
        }
        for (int s = 0; s < shards; s++) {
            if (hosts[s] == null) {
                throw new IllegalStateException("no rank announced shard " + s + " of " + shards + " (answers: "
                    + Arrays.toString(answers) + ")");
            }
        }
        return spec.withShardEndpoints(hosts, upstream, control, norm);
    }

    /** The spec with every shard's endpoint: what this rank's worker exchanges through. */
    ExchangeSpec spec() {
        return spec;
    }

    /** Frames this rank's shards refused so far ({@link WireDrops#NONE} when it hosts none). */
    WireDrops drops() {
        return WireDrops.of(server, false);
    }

    /**
     * What this rank's shards failed with or wait for, for a worker's timeout message ("" when it hosts
     * none, or they are fine).
     */
    String status() {
        if (server == null) {
            return "";
        }
        Throwable failure = server.failure();
        String waiting = server.waitingFor();
        String failed = failure == null || failure.getMessage() == null ? "" : failure.getMessage();
        return failed + (failed.isEmpty() || waiting.isEmpty() ? "" : "; ") + waiting;
    }

    @Override
    public void close() {
        try {
            if (server != null) {
                server.close();
            }
        } finally {
            if (aeron != null) {
                aeron.close();
            }
        }
    }
}
