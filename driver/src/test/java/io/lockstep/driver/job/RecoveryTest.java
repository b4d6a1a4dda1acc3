package io.lockstep.driver.job;

import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.DataLoader;
import io.lockstep.driver.data.TestData;
import io.lockstep.driver.output.RunOutputs;
import io.lockstep.worker.train.StepResult;
import io.lockstep.worker.train.Trainer;
import io.lockstep.worker.train.TrainingListener;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.Serializable;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Failures inside the training stage, injected by a listener that runs in the replicas: a
 * retryable one is recovered from the newest checkpoint and the run ends exactly where an
 * undisturbed one ends; a stalled rank is named and recovered; a fatal one is not retried; and the
 * job gives up after recovery.max_attempts, naming the cause.
 */
class RecoveryTest {
    /** Faults left to inject; static, so every replica of this JVM (local mode) sees the same budget. */
    static final AtomicInteger FAULTS = new AtomicInteger();

    @TempDir
    Path dir;

    /** Throws (or stalls) on {@code rank} at global step {@code step} while faults are left. */
    record Fault(int rank, long step, RuntimeException error, long stallMillis) implements TrainingListener, Serializable {
        @Override
        public void onStepEnd(Trainer trainer, StepResult result) throws Exception {
            if (trainer.rank() == rank && result.step() == step && FAULTS.getAndDecrement() > 0) {
                if (stallMillis > 0) {
                    Thread.sleep(stallMillis);
                } else {
                    throw error;
                }
            }
        }
    }

    JobConfig job(String out) throws Exception {
        Path[] split = TestData.digitsSplit(dir, 1000);
        JobConfig c = TestData.digitsJob(split[0], split[1], dir.resolve(out));
        c.epochs = 3; // 32 steps per epoch
        c.checkpoint.dir = dir.resolve(out + "-ckpt").toString();
        c.checkpoint.every = "20 steps";
        return c;
    }

    static Map<String, Object> run(JobConfig cfg, TrainingListener... listeners) throws Exception {
        try (JavaSparkContext sc = new JavaSparkContext(TrainingJob.sparkConf(cfg))) {
            return TrainingJob.train(cfg, sc, DataLoader.load(sc, cfg), new RunOutputs(Path.of(cfg.output.dir)),
                List.of(listeners), System.nanoTime()).summary();
        }
    }

    static float[] params(Path zip) throws Exception {
        return ModelSerializer.restoreMultiLayerNetwork(zip.toFile()).params().toFloatVector();
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> attempts(Map<String, Object> summary) {
        return (List<Map<String, Object>>) summary.get("attempts");
    }

    @Test
    void aFailedRankIsRecoveredFromTheNewestCheckpointAndEndsBitIdenticalToAnUndisturbedRun() throws Exception {
        Map<String, Object> clean = run(job("clean"));
        FAULTS.set(1);
        Map<String, Object> recovered = run(job("recovered"),
            new Fault(1, 50, new IllegalStateException("injected fault"), 0));

        List<Map<String, Object>> attempts = attempts(recovered);
        assertEquals(2, attempts.size(), attempts.toString());
        String cause = (String) attempts.get(0).get("cause");
        assertTrue(cause.startsWith("rank 1 (executor driver") && cause.contains("injected fault"), cause);
        assertEquals(0, ((Number) attempts.get(0).get("from_step")).intValue());
        assertEquals(40, ((Number) attempts.get(1).get("from_step")).intValue(), "restarted from the step-40 checkpoint");
        assertEquals(((Number) attempts.get(0).get("failed_at_step")).longValue() - 40,
            ((Number) attempts.get(0).get("steps_redone")).longValue());
        assertNull(attempts.get(1).get("cause"));
        assertEquals(clean.get("steps"), recovered.get("steps"));
        assertArrayEquals(params(dir.resolve("clean/model.zip")), params(dir.resolve("recovered/model.zip")),
            "recovery must end exactly where the undisturbed run ends");
    }

    @Test
    void aRankStalledPastTheDeadlineIsNamedAndRecovered() throws Exception {
        JobConfig c = job("stall");
        c.ps.timeoutSeconds = 3;
        FAULTS.set(1);
        Map<String, Object> summary = run(c, new Fault(1, 30, null, 6_000));
        List<Map<String, Object>> attempts = attempts(summary);
        assertEquals(2, attempts.size(), attempts.toString());
        String cause = (String) attempts.get(0).get("cause");
        // the exchange's messages count steps from 0: step 31 is the 32nd
        assertTrue(cause.contains("rank 0") && cause.contains("timed out") && cause.contains("step 31"), cause);
        assertTrue(cause.contains("rank(s) 1") || cause.contains("rank 1"), "the stalled rank is named: " + cause);
        assertEquals(20, ((Number) attempts.get(1).get("from_step")).intValue());
        assertEquals(96L, ((Number) summary.get("steps")).longValue());
    }

    @Test
    void aFatalFailureIsNotRetriedAndRepeatedFailuresGiveUpNamingTheCause() throws Exception {
        FAULTS.set(1);
        Exception fatal = assertThrows(IllegalStateException.class,
            () -> run(job("fatal"), new Fault(0, 5, new IllegalArgumentException("rows 3..9 are unusable"), 0)));
        assertTrue(fatal.getMessage().startsWith("training stage failed: rank 0 (executor driver")
            && fatal.getMessage().contains("rows 3..9 are unusable"), fatal.getMessage());
        assertEquals(0, FAULTS.get(), "one attempt only");

        JobConfig c = job("giveup");
        c.checkpoint.dir = null; // no checkpoint: every attempt restarts from step 0
        c.recovery.maxAttempts = 2;
        FAULTS.set(5);
        Exception gaveUp = assertThrows(IllegalStateException.class,
            () -> run(c, new Fault(1, 3, new IllegalStateException("flaky node"), 0)));
        assertTrue(gaveUp.getMessage().startsWith("training failed in all 2 attempts (recovery.max_attempts); the last: "
            + "rank 1 (executor driver") && gaveUp.getMessage().contains("flaky node"), gaveUp.getMessage());
        assertEquals(3, FAULTS.get(), "two attempts, each failing once");
    }
}
