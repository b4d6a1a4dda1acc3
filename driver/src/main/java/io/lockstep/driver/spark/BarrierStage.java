package io.lockstep.driver.spark;

import io.lockstep.driver.output.MetricsLog;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.server.GatherListener;
import io.lockstep.ps.server.JobListeners;
import io.lockstep.ps.server.ParameterServer;
import io.lockstep.worker.exchange.WireDrops;
import io.lockstep.worker.train.ReplicaResult;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.reflect.ClassTag$;

import java.util.List;

/**
 * One attempt of the training stage: a parameter server for it (none when the workers exchange in memory;
 * only the all-gather endpoint when the shards run on the executors) and the barrier stage of N replicas.
 */
public final class BarrierStage {
    private static final Logger LOG = LoggerFactory.getLogger("lockstep");

    private BarrierStage() {
    }

    /** A completed attempt: every rank's result and the frames refused anywhere during it. */
    public record Outcome(List<ReplicaResult> results, WireDrops drops) {
    }

    /**
     * A failed attempt of the stage, with what the driver's parameter server was still waiting for and what it
     * refused (the tasks' own counts come through {@link StageFailures}).
     */
    public static final class AttemptFailed extends Exception {
        private final String waiting;
        private final transient WireDrops drops;

        AttemptFailed(Exception cause, String waiting, WireDrops drops) {
            super(cause.getMessage(), cause);
            this.waiting = waiting;
            this.drops = drops;
        }

        /** What the driver's server was still waiting for ("" when nothing, or no server). */
        public String waiting() {
            return waiting;
        }

        /** The frames the driver's server refused during the attempt. */
        public WireDrops drops() {
            return drops;
        }
    }

    /**
     * Runs the attempt: the steps the server sees go to {@code metrics}, the gathered rounds (step timelines,
     * validation) to {@code gathers}.
     */
    public static Outcome run(JavaSparkContext sc, RunPlan plan, Topology topology, JavaRDD<RankRows> rows,
                              StartPoint start, MetricsLog metrics, GatherListener gathers) throws AttemptFailed {
        Broadcast<StartPoint> startPoint = sc.broadcast(start);
        ExchangeSpec spec = plan.exchange();
        // workers all in this JVM exchange in memory (InMemoryExchange) and report here; else the server,
        // or with the shards on the executors only its all-gather endpoint, which takes shard 0's step reports
        boolean serverNeeded = !topology.inMemory();
        LOG.info("training stage: {} workers from step {}, exchange {}{}{}", spec.workers(), spec.firstStep(),
            topology.exchangeKind(), plan.shardsOnExecutors() && serverNeeded
                ? ", " + spec.layout().shards() + " shards on the executors" : "",
            serverNeeded && spec.transport() == ExchangeSpec.Transport.UDP
                ? "; the driver's endpoints on " + spec.host() : "");
        try (JobListeners.Registration listeners = JobListeners.register(spec.jobId(), metrics, gathers);
             EmbeddedAeron aeron = serverNeeded ? EmbeddedAeron.forServer(spec) : null;
             ParameterServer server = !serverNeeded ? null
                 : plan.shardsOnExecutors() ? ParameterServer.startGather(aeron.aeron(), spec, metrics, gathers)
                 : ParameterServer.start(aeron.aeron(), spec, metrics, gathers, start.params(),
                     start.serverState(plan.stepSite()))) {
            List<ReplicaResult> results = collect(sc, plan, rows, startPoint, server);
            // here (with this JVM's link counts), and on the executors: their shards', every client's, their links'
            WireDrops drops = WireDrops.of(server, true).withLinkCounters();
            for (ReplicaResult r : results) {
                drops = drops.merge(r.drops());
            }
            if (drops.lossyLink()) {
                LOG.warn("lossy network in this attempt: {} (see summary.json attempts[].drops.link)", drops.linkLine());
            } else if (!drops.linkLine().isEmpty()) {
                LOG.info("network in this attempt: {}", drops.linkLine());
            }
            if (drops.serverTotal() > 0) { // the clients' counts alone are routine (late repeats, resends): no warning
                LOG.warn("frames dropped in this attempt: {}", drops.nonZero());
            } else if (!drops.nonZero().isEmpty()) {
                LOG.info("frames dropped in this attempt: {}", drops.nonZero());
            }
            return new Outcome(results, drops);
        } finally {
            startPoint.destroy();
        }
    }

    /** The barrier stage itself: every rank's result, or the failure with what the server saw. */
    private static List<ReplicaResult> collect(JavaSparkContext sc, RunPlan plan, JavaRDD<RankRows> rows,
                                               Broadcast<StartPoint> startPoint, ParameterServer server)
        throws AttemptFailed {
        // when one task fails Spark cancels its siblings; interrupting them ends their waits in the
        // exchange at once instead of at the deadline, so their slots are free for the next attempt
        sc.setJobGroup("lockstep-" + Long.toHexString(plan.exchange().jobId()), "lockstep training", true);
        try {
            return rows.rdd().barrier()
                .mapPartitions(new TrainTask(plan, startPoint), false, ClassTag$.MODULE$.apply(ReplicaResult.class))
                .toJavaRDD().collect();
        } catch (Exception e) {
            Throwable serverFault = server == null ? null : server.failure(); // e.g. a shard that timed out
            String waiting = server == null ? "" : server.waitingFor();
            if (serverFault != null && serverFault.getMessage() != null) {
                waiting = serverFault.getMessage() + (waiting.isEmpty() ? "" : "; " + waiting);
            }
            throw new AttemptFailed(e, waiting, WireDrops.of(server, true).withLinkCounters());
        } finally {
            sc.clearJobGroup();
        }
    }
}
