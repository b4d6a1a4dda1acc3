package io.lockstep.driver.output;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.worker.train.StepClock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The driver's side of the step timeline: the wait worked out from all ranks' exchange times of a
 * step, the means in step lines, the whole run in the summary, and step lines that wait for their
 * timeline without ever being lost.
 */
class TimelineTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    /** A window of {@code steps} steps with the same times (µs) at every step. */
    static byte[] window(long firstStep, int steps, int data, int compute, int exchange, int apply, int wall) {
        int[] micros = new int[steps * StepClock.FIELDS];
        for (int s = 0; s < steps; s++) {
            int at = s * StepClock.FIELDS;
            micros[at + StepClock.DATA] = data;
            micros[at + StepClock.COMPUTE] = compute;
            micros[at + StepClock.EXCHANGE] = exchange;
            micros[at + StepClock.APPLY] = apply;
            micros[at + StepClock.WALL] = wall;
        }
        return new StepClock.Window(firstStep, steps, micros).toBlob();
    }

    @Test
    void eachRankWaitsItsExchangeMinusTheFastestExchangeOfTheStep() throws IOException {
        Timeline t = new Timeline();
        // rank 1 computes 4 ms longer, so rank 0 waits for it: 5 ms of exchange against rank 1's 1 ms
        t.add(new byte[][]{window(0, 10, 100, 2000, 5000, 300, 7500), window(0, 10, 100, 6000, 1000, 300, 7500)});
        assertEquals(10, t.through());
        JsonNode line = JSON.readTree("{" + t.lineFields() + "}").get("t");
        assertEquals(0.1, line.get("data_ms").asDouble(), 1e-9);
        assertEquals(4.0, line.get("compute_ms").asDouble(), 1e-9, "the mean over both ranks");
        assertEquals(3.0, line.get("exchange_ms").asDouble(), 1e-9);
        assertEquals(2.0, line.get("wait_ms").asDouble(), 1e-9, "rank 0 waits 4 ms, rank 1 none");
        assertEquals(0.3, line.get("apply_ms").asDouble(), 1e-9);
        assertEquals(7.5, line.get("step_ms").asDouble(), 1e-9);
        assertEquals(1, line.get("slowest_rank").asInt(), "the others waited for rank 1");
        assertNull(t.lineFields(), "a line's means start over");

        t.add(new byte[][]{window(10, 30, 100, 2000, 1000, 300, 3500), window(10, 30, 100, 2000, 1200, 300, 3700)});
        RunSummary.Timeline run = t.summary();
        assertEquals(40, run.steps());
        assertEquals(2, run.ranks());
        assertEquals(List.of(30L, 10L), run.slowestRankSteps());
        // waits: rank 0 4 ms at 10 steps and 0 at 30, rank 1 0 at 10 steps and 0.2 ms at 30: 80 values, 40 of them 0
        assertEquals((10 * 4.0 + 30 * 0.2) / 80, run.waitMs().mean(), 1e-3);
        assertEquals(4.0, run.waitMs().p99(), 4.0 / 128, "the top 10 of 80 are 4 ms");
        assertEquals(0.0, run.waitMs().p50(), 1e-9);
        assertEquals(1.0, run.exchangeMs().p50(), 1.0 / 128, "40 of 80 exchanges take 1 ms, 30 1.2 ms, 10 5 ms");
        assertEquals(5.0, run.exchangeMs().p99(), 1e-9, "the top rank: the maximum, exact");
        assertEquals(4.0, run.waitMs().max(), 1e-9);
        assertEquals(6.0, run.computeMs().max(), 1e-9);
    }

    @Test
    void windowsOfDifferentStepsAreRefusedWhole() {
        Timeline t = new Timeline();
        var e = assertThrows(IllegalArgumentException.class,
            () -> t.add(new byte[][]{window(0, 10, 1, 1, 1, 1, 4), window(0, 9, 1, 1, 1, 1, 4)}));
        assertTrue(e.getMessage().contains("rank 1 sent steps 1..9"), e.getMessage());
        assertNull(t.summary(), "nothing half-added");
    }

    static List<JsonNode> lines(Path file) throws IOException {
        return Files.readAllLines(file).stream().map(l -> {
            try {
                return JSON.readTree(l);
            } catch (IOException e) {
                throw new AssertionError("not strict JSON: " + l, e);
            }
        }).toList();
    }

    @Test
    void aStepLineWaitsForItsTimelineAndGoesOutWithoutOneWhenItNeverComes() throws IOException {
        Path file = dir.resolve("metrics.jsonl");
        MetricsLog log = new MetricsLog(file, 4, 1, 2, null, false).withTimeline();
        long t0 = System.nanoTime();
        log.onStep(0, 8, 1f, t0);
        log.onStep(1, 8, 0.9f, t0 + 1_000_000); // step 2: logged, its timeline follows
        log.timeline(new byte[][]{window(0, 2, 10, 20, 30, 40, 200), window(0, 2, 10, 20, 50, 40, 200)});
        log.later(() -> "{\"type\":\"validation\",\"step\":2}");
        log.onStep(2, 8, 0.8f, t0 + 2_000_000);
        log.onStep(3, 8, 0.7f, t0 + 3_000_000); // step 4 ends the epoch; its timeline never comes
        log.commit();

        List<JsonNode> lines = lines(file);
        assertEquals(List.of("step", "validation", "step", "epoch"),
            lines.stream().map(n -> n.get("type").asText()).toList(), "the order of the events");
        JsonNode t = lines.get(0).get("t");
        assertNotNull(t, lines.get(0).toString());
        assertEquals(0.04, t.get("exchange_ms").asDouble(), 1e-9);
        assertEquals(0.01, t.get("wait_ms").asDouble(), 1e-9);
        assertEquals(0, t.get("slowest_rank").asInt());
        assertEquals(2, lines.get(0).get("step").asInt());
        assertNull(lines.get(2).get("t"), "written at close without a timeline");
        assertEquals(4, lines.get(2).get("step").asInt());
        assertEquals(2, log.timelineSummary().steps());
    }

    @Test
    void aNewAttemptFromAnEarlierStepWaitsForItsOwnWindows() throws IOException {
        Path file = dir.resolve("metrics.jsonl");
        MetricsLog log = new MetricsLog(file, 100, 1, 2, null, false).withTimeline();
        long t0 = System.nanoTime();
        for (int s = 0; s < 4; s++) {
            log.onStep(s, 8, 1f, t0 + s);
        }
        log.timeline(new byte[][]{window(0, 4, 1, 1, 1, 1, 9)}); // reaches step 4 (the line at 2 went out bare)
        log.onStep(1, 8, 1f, t0 + 10); // the next attempt restarts at step 2 (0-based 1)
        log.timeline(new byte[][]{window(1, 1, 5, 5, 5, 5, 30)});
        log.commit();
        List<JsonNode> lines = lines(file);
        assertEquals(List.of(2, 4, 2), lines.stream().map(n -> n.get("step").asInt()).toList());
        assertNull(lines.get(0).get("t"), "its timeline came after the next line was due");
        assertEquals(0.001, lines.get(1).get("t").get("data_ms").asDouble(), 1e-9);
        assertEquals(0.005, lines.get(2).get("t").get("data_ms").asDouble(), 1e-9,
            "the restarted step's own window, not the failed attempt's");
    }

    @Test
    void withoutTimelinesStepLinesAreWrittenAtOnceAsBefore() throws IOException {
        Path file = dir.resolve("metrics.jsonl");
        MetricsLog log = new MetricsLog(file, 2, 1, 1, null, false);
        log.onStep(0, 8, 1f, System.nanoTime());
        log.close();
        assertEquals(1, Files.readAllLines(log.temp()).size(), "no line held back");
        assertNull(lines(log.temp()).get(0).get("t"));
        log.discard();
    }
}
