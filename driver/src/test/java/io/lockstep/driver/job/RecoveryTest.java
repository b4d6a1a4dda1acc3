package io.lockstep.driver.job;

import io.lockstep.driver.spark.SparkConfs;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.aeron.ExclusivePublication;
import io.lockstep.driver.config.ShardPlacement;
import io.lockstep.driver.config.Transport;
import io.lockstep.worker.train.Every;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.DataLoader;
import io.lockstep.driver.data.TestData;
import io.lockstep.driver.output.RunOutputs;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.worker.exchange.AeronExchange;
import io.lockstep.worker.train.StepResult;
import io.lockstep.worker.train.Trainer;
import io.lockstep.worker.train.TrainingListener;
import org.agrona.concurrent.UnsafeBuffer;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Failures inside the training stage, injected by a listener that runs in the replicas: a
 * retryable one is recovered from the newest checkpoint and the run ends exactly where an
 * undisturbed one ends; a stalled rank is named and recovered; a fatal one is not retried; the
 * job gives up after recovery.max_attempts, naming the cause; and frames dropped during a failed attempt
 * are reported with it.
 */
@Tag("slow")
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

    /** Junk sends left; static, as {@link #FAULTS}. */
    static final AtomicInteger JUNK = new AtomicInteger();

    /**
     * From rank 0 after {@code step}, while junk sends are left: {@code frames} frames that are no Lockstep
     * frame (version 0) at shard {@code shard} and at the all-gather endpoint, from the workers' media driver, on
     * rank 0's next-generation sessions.
     */
    record Junk(long step, int shard, int frames) implements TrainingListener, Serializable {
        @Override
        public void onStepEnd(Trainer trainer, StepResult result) throws Exception {
            if (trainer.rank() != 0 || result.step() != step || JUNK.getAndDecrement() <= 0) {
                return;
            }
            ExchangeSpec spec = ((AeronExchange) trainer.exchange()).spec();
            UnsafeBuffer junk = new UnsafeBuffer(new byte[64]);
            try (EmbeddedAeron aeron = EmbeddedAeron.forWorkers(spec);
                 // rank 0's next-generation sessions: the receivers already listen there, so the junk is read (a
                 // stranger's session would not even be), counted, and promotes nothing, not being authenticated
                 ExclusivePublication toShard = aeron.aeron().addExclusivePublication(spec.upstreamChannel(shard, 0, 1),
                     spec.upstreamStream(shard));
                 ExclusivePublication toGather = aeron.aeron().addExclusivePublication(
                     spec.gatherUpstreamChannel(0, 1), spec.gatherUpstreamStream())) {
                long deadline = System.nanoTime() + 10_000_000_000L;
                for (ExclusivePublication to : List.of(toShard, toGather)) {
                    for (int sent = 0; sent < frames; ) {
                        if (to.offer(junk, 0, junk.capacity()) > 0) {
                            sent++;
                        } else {
                            assertTrue(System.nanoTime() < deadline, "junk not taken: " + to.channel());
                            Thread.sleep(1);
                        }
                    }
                } // closed publications still send what they took
            }
        }
    }

    JobConfig job(String out) throws Exception {
        Path[] split = TestData.digitsSplit(dir, 1000);
        JobConfig c = TestData.digitsJob(split[0], split[1], dir.resolve(out));
        c = c.with("epochs", 3); // 32 steps per epoch
        c = c.with("checkpoint.dir", dir.resolve(out + "-ckpt").toString());
        c = c.with("checkpoint.every", new Every(20, Every.Unit.STEPS));
        return c;
    }

    static Map<String, Object> run(JobConfig cfg, TrainingListener... listeners) throws Exception {
        try (JavaSparkContext sc = new JavaSparkContext(SparkConfs.of(cfg))) {
            return TrainingJob.train(cfg, sc, DataLoader.load(sc, cfg), new RunOutputs(Path.of(cfg.output().dir())),
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

    @SuppressWarnings("unchecked")
    static Map<String, Map<String, Number>> drops(Map<String, Object> attempt) {
        return (Map<String, Map<String, Number>>) attempt.get("drops");
    }

    static long sum(Map<String, Number> kinds) {
        return kinds.values().stream().mapToLong(Number::longValue).sum();
    }

    /**
     * Over UDP with the shards on the executors: rank 0 runs shards 0 and 1, rank 1 shard 2, and the driver
     * only the all-gather endpoint. One epoch of 32 steps, a checkpoint at step 20.
     */
    JobConfig overTheWire(String out) throws Exception {
        JobConfig c = job(out)
            .with("epochs", 1)
            .with("ps.transport", Transport.UDP)
            .with("ps.shard_placement", ShardPlacement.EXECUTORS)
            .with("ps.local_reduction", false)
            .with("ps.shards", 3)
            .with("ps.timeout_seconds", 20);
        return c;
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
        // the budget bounds every wait of both attempts, so it must hold for a whole attempt on a loaded machine
        // (2 cores, several builds: 3 s did not always); the stall outlasts it by far, and ends when the failed
        // attempt's tasks are interrupted
        c = c.with("ps.timeout_seconds", 10);
        FAULTS.set(1);
        Map<String, Object> summary = run(c, new Fault(1, 30, null, 40_000));
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
    void framesDroppedInAFailedAttemptAreReportedWithItInTheErrorTheSummaryAndTheMetrics() throws Exception {
        // junk at shard 2 (next to rank 1) and at the driver's all-gather endpoint after step 10; rank 1 fails
        // after step 25: shard 2's counts reach the driver only on rank 1's exception
        JobConfig once = overTheWire("drops-once")
            .with("recovery.max_attempts", 1);
        JUNK.set(1);
        FAULTS.set(1);
        Exception failed = assertThrows(IllegalStateException.class,
            () -> run(once, new Junk(10, 2, 5), new Fault(1, 25, new IllegalStateException("injected fault"), 0)));
        String message = failed.getMessage();
        assertTrue(message.startsWith("training failed in all 1 attempts") && message.contains("injected fault")
            && message.contains(" (frames dropped this attempt: shards malformed=5; gather malformed=5"), message);

        JUNK.set(1);
        FAULTS.set(1);
        JobConfig c = overTheWire("drops");
        Map<String, Object> summary = run(c, new Junk(10, 2, 5),
            new Fault(1, 25, new IllegalStateException("injected fault"), 0));
        List<Map<String, Object>> attempts = attempts(summary);
        assertEquals(2, attempts.size(), attempts.toString());
        assertEquals(20, ((Number) attempts.get(1).get("from_step")).intValue());
        Map<String, Map<String, Number>> first = drops(attempts.get(0));
        Map<String, Map<String, Number>> second = drops(attempts.get(1));
        assertEquals(List.of("shards", "gather", "workers", "media", "link"), List.copyOf(first.keySet()));
        assertEquals(5, first.get("shards").get("malformed").longValue(), "shard 2's, on rank 1's exception: " + first);
        assertEquals(5, first.get("gather").get("malformed").longValue(), "the driver's endpoint's: " + first);
        assertEquals(0, second.get("shards").get("malformed").longValue() + second.get("gather").get("malformed")
            .longValue(), "no junk in the second attempt: " + second);
        for (String side : first.keySet()) {
            assertEquals(List.copyOf(first.get(side).keySet()), List.copyOf(second.get(side).keySet()),
                "every attempt has the same kinds: " + attempts);
        }
        assertFalse(first.get("workers").isEmpty(), "the completed attempt's clients name their kinds: " + first);
        assertEquals(first.get("shards").keySet(), first.get("gather").keySet());
        long serverSides = 0;
        for (Map<String, Object> a : attempts) {
            serverSides += sum(drops(a).get("shards")) + sum(drops(a).get("gather"));
        }
        assertEquals(serverSides, ((Number) ((Map<?, ?>) summary.get("ps")).get("dropped_frames")).longValue(),
            "ps.dropped_frames: every attempt's, the failed one's too");

        List<JsonNode> lines = TrainingLoopJobTest.lines(dir.resolve("drops/metrics.jsonl"), "attempt");
        assertEquals(2, lines.size(), lines.toString());
        JsonNode failedLine = lines.get(0);
        assertTrue(failedLine.get("cause").asText().contains("injected fault"), failedLine.toString());
        assertEquals(5, failedLine.at("/drops/shards/malformed").asLong(), failedLine.toString());
        assertEquals(5, failedLine.at("/drops/gather/malformed").asLong(), failedLine.toString());
        // written at the attempt's end, before any later attempt's counts were known
        assertTrue(failedLine.at("/drops/workers").size() > 0,
            "rank 1's client counts came back on its exception: " + failedLine);
        ObjectMapper json = new ObjectMapper();
        assertEquals(json.readTree(json.writeValueAsString(second)), lines.get(1).get("drops"));
        List<String> types = Files.readAllLines(dir.resolve("drops/metrics.jsonl")).stream()
            .map(l -> l.replaceAll("^\\{\"type\":\"(\\w+)\".*", "$1")).toList();
        assertEquals("attempt", types.get(types.size() - 1), types.toString());
        assertTrue(types.indexOf("attempt") > types.indexOf("step"), "the failed attempt's line follows its steps");
    }

    @Test
    void aFatalFailureIsNotRetriedAndRepeatedFailuresGiveUpNamingTheCause() throws Exception {
        FAULTS.set(1);
        Exception fatal = assertThrows(IllegalStateException.class,
            () -> run(job("fatal"), new Fault(0, 5, new IllegalArgumentException("rows 3..9 are unusable"), 0)));
        assertTrue(fatal.getMessage().startsWith("training stage failed: rank 0 (executor driver")
            && fatal.getMessage().contains("rows 3..9 are unusable"), fatal.getMessage());
        assertEquals(0, FAULTS.get(), "one attempt only");

        JobConfig c = job("giveup")
            .with("checkpoint.dir", null) // no checkpoint: every attempt restarts from step 0
            .with("recovery.max_attempts", 2);
        FAULTS.set(5);
        Exception gaveUp = assertThrows(IllegalStateException.class,
            () -> run(c, new Fault(1, 3, new IllegalStateException("flaky node"), 0)));
        assertTrue(gaveUp.getMessage().startsWith("training failed in all 2 attempts (recovery.max_attempts); the last: "
            + "rank 1 (executor driver") && gaveUp.getMessage().contains("flaky node"), gaveUp.getMessage());
        assertEquals(3, FAULTS.get(), "two attempts, each failing once");
    }
}
