package io.lockstep.driver.output;

import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import org.junit.jupiter.api.Test;

import java.lang.reflect.RecordComponent;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The builder sets every member of summary.json, under its own name, in the record's order. */
class RunSummaryTest {
    @Test
    void theBuilderSetsEveryMemberInTheFilesOrder() {
        RunSummary.Phase ms = new RunSummary.Phase(1, 1, 1, 1);
        RunSummary s = RunSummary.builder()
            .task("classification").workers(2).replicas(List.of("1@h", "2@h")).devices(List.of("cpu", "cpu")).epochs(3).epochsCompleted(2)
            .batchSizePerWorker(64).accumulateSteps(1).globalBatchSize(128).steps(10).stepsPerEpoch(5)
            .resumedFromStep(0).skippedSteps(0).stoppedEarly("early stopping").trainSamples(640)
            .validationSamples(64).testSamples(64).samplesTrained(1280).parameters(1000).finalLoss(0.5)
            .trainSeconds(1.5).samplesPerSecond(853.3).wallSeconds(4)
            .timeSplitSeconds(new RunSummary.TimeSplit(0.1, 1.0, 0.3, 0.1))
            .timeline(new RunSummary.Timeline(10, 2, ms, ms, ms, ms, ms, ms, List.of(5L, 5L)))
            .ps(new RunSummary.Ps("ipc", 2, "driver", 0, "server"))
            .attempts(List.of(new RunSummary.Attempt(1, 0, null, null, null, 1.5, Map.of())))
            .validation(Map.of("accuracy", 0.9)).best(new RunSummary.Best("accuracy", 0.9, 1, 10, true))
            .test(Map.of("accuracy", 0.9)).model("model.zip")
            .build();
        PropertyNamingStrategies.SnakeCaseStrategy snake = new PropertyNamingStrategies.SnakeCaseStrategy();
        List<String> members = Arrays.stream(RunSummary.class.getRecordComponents()).map(RecordComponent::getName)
            .map(snake::translate).toList();
        assertEquals(members, List.copyOf(s.toMap().keySet()));
        assertEquals("early stopping", s.toMap().get("stopped_early"));
        assertEquals(1000, ((Number) s.toMap().get("parameters")).intValue());
    }
}
