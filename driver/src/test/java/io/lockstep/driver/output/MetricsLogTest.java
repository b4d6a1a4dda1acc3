package io.lockstep.driver.output;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class MetricsLogTest {
    static final long MS = 1_000_000L;

    @TempDir
    Path dir;

    /**
     * 10 samples per step, a step every 10 ms (1000 samples/s), logged every 4 steps; the stage fails after step 5
     * and its next attempt resumes 60 s later from step 4 (steps redone) or 6 (none redone). The first rate after the
     * recovery is the new attempt's, not 60 s of waiting for a replacement executor averaged in.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(ints = {4, 6})
    void theFirstRateAfterARecoveryCountsNoWaiting(int resumeFrom) throws Exception {
        Path file = dir.resolve("metrics.jsonl");
        MetricsLog log = new MetricsLog(file, 100, 1, 4, null, false);
        long t = 0;
        for (int step = 0; step < 6; step++) {
            log.onStep(step, 10, 1f, t += 10 * MS);
        }
        log.attempt(new RunSummary.Attempt(1, 0, 6L, 2L, "executor lost", 0.1, Map.of()));
        t += 60_000 * MS;
        for (int step = resumeFrom; step < 12; step++) {
            log.onStep(step, 10, 1f, t += 10 * MS);
        }
        log.commit();
        ObjectMapper json = new ObjectMapper();
        List<Double> rates = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            JsonNode n = json.readTree(line);
            if (n.get("type").asText().equals("step")) {
                rates.add(n.get("samples_per_second").asDouble());
            }
        }
        assertEquals(3, rates.size(), "steps 4, 8 and 12: " + rates);
        for (double rate : rates) {
            assertEquals(1000, rate, 1, "every window is training time only: " + rates);
        }
    }
}
