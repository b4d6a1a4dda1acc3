package io.lockstep.driver.job;

import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.output.MetricsLog;
import io.lockstep.driver.output.RunOutputs;
import io.lockstep.driver.output.RunSummary;
import io.lockstep.driver.spark.BarrierStage;
import io.lockstep.driver.spark.RunPlan;
import io.lockstep.driver.spark.StartPoint;
import io.lockstep.ps.server.GatherListener;
import io.lockstep.worker.exchange.WireDrops;
import io.lockstep.worker.train.ReplicaResult;
import io.lockstep.worker.train.Trainer;
import org.apache.spark.api.java.JavaSparkContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * The training stage, attempt after attempt ({@link RecoveryPolicy} decides whether a failed one runs again
 * and from where), with metrics.jsonl open throughout; then the check that every replica ended identical.
 */
final class Attempts {
    private static final Logger LOG = LoggerFactory.getLogger("lockstep");

    /** What the stage produced: rank 0's result (the others agreed with it) and the driver's view of it. */
    record Stage(ReplicaResult lead, List<String> replicas, List<String> devices, long samples, float finalLoss, long droppedFrames,
                 Map<String, Object> lastValidation, List<RunSummary.Attempt> attempts,
                 RunSummary.Timeline timeline) {
    }

    private final JobConfig cfg;
    private final JavaSparkContext sc;
    private final Prepared p;
    private final List<RunSummary.Attempt> attempts = new ArrayList<>();
    private final List<WireDrops> attemptDrops = new ArrayList<>(); // by attempt, as counted
    private WireDrops shape = WireDrops.zero();                     // every kind counted so far, for a stable shape

    private Attempts(JobConfig cfg, JavaSparkContext sc, Prepared p) {
        this.cfg = cfg;
        this.sc = sc;
        this.p = p;
    }

    /** Runs the stage until an attempt completes or the job must end (an exception naming the cause). */
    static Stage run(JobConfig cfg, JavaSparkContext sc, Prepared p, RunOutputs outputs) throws IOException {
        return new Attempts(cfg, sc, p).run(outputs);
    }

    private Stage run(RunOutputs outputs) throws IOException {
        List<ReplicaResult> results;
        MetricsLog metrics;
        ValidationLog validationLog;
        try (RecoveryPolicy recovery = new RecoveryPolicy(sc, cfg, p)) {
            metrics = outputs.openMetrics(p.plan().options().stepsPerEpoch(), cfg.epochs(),
                cfg.logEvery(), p.model().learningRate(), p.start().state().step() > 0).withTimeline();
            validationLog = new ValidationLog(metrics, p.plan().options().stepsPerEpoch());
            try (metrics) {
                results = untilOneCompletes(recovery, metrics, validationLog);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while training", e);
        }
        // metrics is closed above: its writer has drained every step
        return finish(results, metrics, validationLog);
    }

    private List<ReplicaResult> untilOneCompletes(RecoveryPolicy recovery, MetricsLog metrics,
                                                  ValidationLog validationLog)
        throws IOException, InterruptedException {
        GatherListener gathers = (round, blobs) -> {
            if (round % 4 == Trainer.ROUND_TIMELINE) {
                metrics.timeline(blobs);
            } else {
                validationLog.onGathered(round, blobs);
            }
        };
        StartPoint start = p.start();
        for (int attempt = 1; ; attempt++) {
            long began = System.nanoTime();
            long from = start.state().step();
            RunPlan plan = p.plan().withExchange(p.topology().exchangeSpec(
                Math.toIntExact(p.model().network().parameterCount()), p.model().stepSite(), from));
            recovery.attemptStarts();
            try {
                BarrierStage.Outcome outcome = BarrierStage.run(sc, plan, p.topology(), p.rows(), start, metrics,
                    gathers);
                counted(outcome.drops());
                attempts.add(ended(metrics, new RunSummary.Attempt(attempt, from, null, null, null,
                    round(seconds(began)), outcome.drops().shapedLike(shape).toMap())));
                return outcome.results();
            } catch (BarrierStage.AttemptFailed failed) {
                RecoveryPolicy.Diagnosis d = recovery.diagnose(failed);
                long reached = Math.max(from, metrics.lastStep());
                double ran = round(seconds(began));
                IllegalStateException end = recovery.giveUp(d, attempt, failed.getCause());
                if (end != null) {
                    throw end;
                }
                start = recovery.resumePoint();
                counted(d.drops());
                attempts.add(ended(metrics, new RunSummary.Attempt(attempt, from, reached,
                    reached - start.state().step(), d.cause(), ran, d.drops().shapedLike(shape).toMap())));
                LOG.warn("attempt {} failed at step {}: {}{}; attempt {} of {} starts at step {} ({} steps redone)",
                    attempt, reached, d.cause(), RecoveryPolicy.droppedThisAttempt(d.drops()), attempt + 1,
                    recovery.maxAttempts(), start.state().step(), reached - start.state().step());
            }
        }
    }

    /** The completed attempt's results, checked, with every attempt's entry for the summary. */
    private Stage finish(List<ReplicaResult> results, MetricsLog metrics, ValidationLog validationLog) {
        for (ReplicaResult r : results) {
            if (r.failure() != null) {
                throw new IllegalStateException(r.failure()
                    + RecoveryPolicy.droppedThisAttempt(attemptDrops.get(attemptDrops.size() - 1)));
            }
        }
        ReplicaResult lead = checkReplicas(results, cfg.workers());
        if (lead.stopReason() != null) {
            LOG.info(lead.stopReason());
        }
        List<ReplicaResult> byRank = results.stream().sorted(Comparator.comparingInt(ReplicaResult::rank)).toList();
        List<String> where = byRank.stream().map(ReplicaResult::where).toList();
        List<String> devices = byRank.stream().map(ReplicaResult::device).toList();
        // every attempt with every kind any attempt counted, so each entry has the same shape
        List<RunSummary.Attempt> shaped = new ArrayList<>();
        for (int i = 0; i < attempts.size(); i++) {
            shaped.add(attempts.get(i).withDrops(attemptDrops.get(i).shapedLike(shape).toMap()));
        }
        return new Stage(lead, where, devices, results.stream().mapToLong(ReplicaResult::samples).sum(), metrics.lastLoss(),
            attemptDrops.stream().mapToLong(WireDrops::serverTotal).sum(), validationLog.last(), shaped,
            metrics.timelineSummary());
    }

    /** An attempt's frame counts, kept in order; their kinds widen the shape every attempt's entry takes. */
    private void counted(WireDrops drops) {
        shape = shape.merge(drops);
        attemptDrops.add(drops);
    }

    /** An attempt's end: its line in metrics.jsonl, in order with its steps. */
    private static RunSummary.Attempt ended(MetricsLog metrics, RunSummary.Attempt attempt) {
        metrics.attempt(attempt);
        return attempt;
    }

    /** Every replica must hold bit-identical parameters; a mismatch means the protocol broke. */
    static ReplicaResult checkReplicas(List<ReplicaResult> results, int workers) {
        if (results.size() != workers) {
            throw new IllegalStateException("expected results from " + workers + " workers, got " + results.size());
        }
        ReplicaResult lead = results.stream().filter(r -> r.rank() == 0).findFirst()
            .orElseThrow(() -> new IllegalStateException("no result from rank 0"));
        for (ReplicaResult r : results) {
            if (r.paramDigest() != lead.paramDigest()) {
                throw new IllegalStateException("replicas diverged: rank " + r.rank()
                    + " ended with different parameters than rank 0");
            }
        }
        return lead;
    }

    private static double seconds(long sinceNanos) {
        return (System.nanoTime() - sinceNanos) / 1e9;
    }

    private static double round(double v) {
        return RunSummary.round(v);
    }
}
