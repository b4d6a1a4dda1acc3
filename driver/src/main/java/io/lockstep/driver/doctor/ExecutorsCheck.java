package io.lockstep.driver.doctor;

import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.output.HadoopCheckpointStore;
import io.lockstep.driver.spark.ExecutorWait;
import io.lockstep.driver.spark.ReachStage;
import io.lockstep.driver.spark.ReachStage.RankReach;
import io.lockstep.driver.spark.SparkConfs;
import io.lockstep.driver.spark.Topology;
import org.apache.spark.api.java.JavaSparkContext;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code doctor --on-cluster}: the checks only the executors can make, in a short Spark application on the job's
 * master before any training ({@link ReachStage}): one task per worker, as the training stage has; UDP from every
 * rank to the driver's endpoint address and back, and between every pair of ranks (their shards' and receive
 * endpoints' addresses), on ports of {@code ps.ports}; and that every rank sees the driver's {@code checkpoint.dir}.
 * One finding per rank.
 */
public final class ExecutorsCheck {
    /** The longest a rank waits for its answers. */
    static final long MAX_WAIT_MILLIS = 30_000;

    private ExecutorsCheck() {
    }

    public static List<Finding> run(JobConfig cfg) {
        List<Finding> findings = new ArrayList<>();
        HadoopCheckpointStore probe = null;
        try (JavaSparkContext sc = new JavaSparkContext(SparkConfs.of(cfg))) {
            ExecutorWait.awaitFirst(sc, cfg);
            String host = Topology.of(cfg, sc).host();
            if (cfg.checkpoint().dir() != null) {
                probe = new HadoopCheckpointStore(cfg.checkpoint().dir(), cfg.checkpoint().keep()).withProbe();
            }
            long wait = Math.min(MAX_WAIT_MILLIS, cfg.ps().timeoutSeconds() * 1000L);
            for (RankReach r : ReachStage.run(sc, cfg.workers(), host, cfg.ps().ports(), probe, wait)) {
                findings.add(finding(r, host, cfg.workers(), probe != null));
            }
        } catch (IOException | RuntimeException e) {
            findings.add(Finding.fail("executors", "a stage of " + cfg.workers() + " tasks on " + cfg.spark().master()
                + " could not run: " + e.getMessage()));
        } finally {
            if (probe != null) {
                try {
                    probe.removeProbe();
                } catch (IOException ignored) {
                    // the hidden file stays; it is no checkpoint
                }
            }
        }
        return findings;
    }

    static Finding finding(RankReach r, String driverHost, int workers, boolean checkpoints) {
        String who = "rank " + r.rank() + " (" + r.where() + ")";
        if (r.ok()) {
            return Finding.ok("executors", who + ": UDP to and from the driver's " + driverHost
                + (workers > 1 ? " and every other rank" : "") + (checkpoints ? "; sees checkpoint.dir" : ""));
        }
        List<String> problems = new ArrayList<>();
        if (!r.driverAnswered()) {
            problems.add("no UDP answer from the driver's " + driverHost + ": open UDP on ps.ports between the executors"
                + " and the driver, or set ps.host to a driver address they reach");
        }
        if (!r.silentRanks().isEmpty()) {
            problems.add("no UDP answer from rank(s) " + r.silentRanks() + ": the executors' hosts must reach each other"
                + " on ps.ports (the shards run on the executors)");
        }
        if (r.checkpointProblem() != null) {
            problems.add(r.checkpointProblem());
        }
        return Finding.fail("executors", who + ": " + String.join("; ", problems));
    }
}
