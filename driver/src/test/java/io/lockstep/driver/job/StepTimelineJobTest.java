package io.lockstep.driver.job;

import io.lockstep.worker.train.Every;
import com.fasterxml.jackson.databind.JsonNode;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The step timeline of a whole job on local Spark: every step line carries the replicas' phase times,
 * which fit inside the step's wall time, and summary.json sums the run up per phase.
 */
@Tag("slow")
class StepTimelineJobTest {
    static final String[] PHASES = {"data_ms", "compute_ms", "exchange_ms", "wait_ms", "apply_ms", "step_ms"};

    @TempDir
    Path dir;

    @Test
    void everyStepLineCarriesPhaseTimesThatFitItsStepAndTheSummaryHasEachPhasesDistribution() throws Exception {
        List<String> rows = TestData.digitsLines();
        Path train = dir.resolve("train.csv");
        Path validation = dir.resolve("validation.csv");
        Path test = dir.resolve("test.csv");
        Files.write(train, rows.subList(0, 900));
        Files.write(validation, rows.subList(900, 1200));
        Files.write(test, rows.subList(1200, rows.size()));
        JobConfig c = TestData.digitsJob(train, test, dir.resolve("out"));
        c = c.with("data.validation", validation.toString()); // validation's all-gather rounds interleave with the timeline's
        c = c.with("validation.every", new Every(7, Every.Unit.STEPS));
        c = c.with("workers", 2)
            .with("epochs", 2)
            .with("log_every", 5);
        Map<String, Object> summary = TrainingJob.run(c);
        long steps = ((Number) summary.get("steps")).longValue();

        List<JsonNode> lines = TrainingLoopJobTest.lines(dir.resolve("out/metrics.jsonl"), "step");
        assertFalse(lines.isEmpty());
        for (JsonNode line : lines) {
            JsonNode t = line.get("t");
            assertNotNull(t, "no timeline in " + line);
            for (String phase : PHASES) {
                assertTrue(t.get(phase).isNumber() && t.get(phase).asDouble() >= 0, phase + " in " + line);
            }
            double phases = t.get("data_ms").asDouble() + t.get("compute_ms").asDouble()
                + t.get("exchange_ms").asDouble() + t.get("apply_ms").asDouble();
            assertTrue(phases <= t.get("step_ms").asDouble() + 0.003, "the phases fit in the step: " + line);
            assertTrue(t.get("compute_ms").asDouble() > 0, "a step computes: " + line);
            assertTrue(t.get("wait_ms").asDouble() <= t.get("exchange_ms").asDouble() + 0.001, "wait is part of exchange");
            int slowest = t.get("slowest_rank").asInt();
            assertTrue(slowest == 0 || slowest == 1, line.toString());
        }
        assertEquals(steps, lines.get(lines.size() - 1).get("step").asLong());

        @SuppressWarnings("unchecked")
        Map<String, Object> timeline = (Map<String, Object>) summary.get("timeline");
        assertNotNull(timeline, summary.keySet().toString());
        assertEquals(steps, ((Number) timeline.get("steps")).longValue(), "every step once");
        assertEquals(2, ((Number) timeline.get("ranks")).intValue());
        @SuppressWarnings("unchecked")
        List<Number> slowest = (List<Number>) timeline.get("slowest_rank_steps");
        assertEquals(steps, slowest.stream().mapToLong(Number::longValue).sum());
        double phaseMeans = 0;
        for (String phase : PHASES) {
            @SuppressWarnings("unchecked")
            Map<String, Number> p = (Map<String, Number>) timeline.get(phase);
            double mean = p.get("mean").doubleValue(), p50 = p.get("p50").doubleValue();
            double p99 = p.get("p99").doubleValue(), max = p.get("max").doubleValue();
            assertTrue(0 <= p50 && p50 <= p99 && p99 <= max && mean <= max && mean >= 0, phase + ": " + p);
            if (!phase.equals("wait_ms") && !phase.equals("step_ms")) {
                phaseMeans += mean;
            }
        }
        @SuppressWarnings("unchecked")
        Map<String, Number> step = (Map<String, Number>) timeline.get("step_ms");
        assertTrue(phaseMeans <= step.get("mean").doubleValue() + 0.004, "the mean phases fit in the mean step");
    }

    @Test
    @SuppressWarnings("unchecked")
    void afterARecoveryTheRedoneStepsLinesCarryTheirOwnTimeline() throws Exception {
        Path[] split = TestData.digitsSplit(dir, 1000);
        JobConfig c = TestData.digitsJob(split[0], split[1], dir.resolve("recovered"));
        c = c.with("epochs", 2); // 32 steps per epoch, a line every 10
        c = c.with("checkpoint.dir", dir.resolve("ckpt").toString());
        c = c.with("checkpoint.every", new Every(20, Every.Unit.STEPS));
        RecoveryTest.FAULTS.set(1);
        Map<String, Object> summary = RecoveryTest.run(c,
            new RecoveryTest.Fault(1, 45, new IllegalStateException("injected fault"), 0));
        List<Map<String, Object>> attempts = RecoveryTest.attempts(summary);
        assertEquals(2, attempts.size(), attempts.toString());
        assertEquals(40, ((Number) attempts.get(1).get("from_step")).intValue());

        List<Long> stepsLogged = new java.util.ArrayList<>();
        for (JsonNode line : TrainingLoopJobTest.lines(dir.resolve("recovered/metrics.jsonl"), "step")) {
            stepsLogged.add(line.get("step").asLong());
            assertNotNull(line.get("t"), "no timeline in " + line);
        }
        assertEquals(List.of(10L, 20L, 30L, 32L, 40L, 50L, 60L, 64L), stepsLogged,
            "the failed attempt's lines up to its last logged step, then the next attempt's from the checkpoint");
        assertEquals(64L, ((Number) summary.get("steps")).longValue());
        long timelineSteps = ((Number) ((Map<String, Object>) summary.get("timeline")).get("steps")).longValue();
        assertEquals(40 + 24, timelineSteps,
            "the failed attempt shipped steps 1..40 (its last round, at step 40), the next one steps 41..64");
    }
}
