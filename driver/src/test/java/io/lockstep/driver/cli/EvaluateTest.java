package io.lockstep.driver.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.TestData;
import io.lockstep.driver.job.TrainingJob;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.*;

/** {@code lockstep evaluate} on a real run's model: training's own test metrics, and data that does not fit refused. */
@Tag("slow")
class EvaluateTest {
    @TempDir
    Path dir;

    @Test
    void aModelEvaluatedOnItsTestSplitReportsTrainingsTestMetricsAndDataThatDoesNotFitIsRefused() throws Exception {
        Path[] split = TestData.digitsSplit(dir, 600);
        JobConfig cfg = TestData.digitsJob(split[0], split[1], dir.resolve("out"));
        Map<String, Object> summary = TrainingJob.run(cfg);
        Path model = dir.resolve("out/model.zip");

        Map<String, Object> result = Evaluate.evaluate(model, split[1].toString(), null, List.of());
        assertEquals("classification", result.get("task"));
        assertEquals(summary.get("test"), result.get("metrics"), "the same metrics as training's test split, exactly");

        // through the command: printed and written
        Path out = dir.resolve("eval.json");
        assertEquals(0, LockstepCli.commandLine().execute("evaluate", model.toString(), split[1].toString(),
            "--out", out.toString()));
        JsonNode written = new ObjectMapper().readTree(out.toFile());
        assertEquals(((Map<?, ?>) summary.get("test")).get("accuracy"), written.get("metrics").get("accuracy").asDouble());

        // rows one feature short: named with the file and both widths
        List<String> rows = Files.readAllLines(split[1]);
        Path narrow = Files.write(dir.resolve("narrow.csv"), rows.stream()
            .map(l -> l.substring(l.indexOf(',') + 1)).collect(Collectors.toList()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> Evaluate.evaluate(model, narrow.toString(), null, List.of()));
        assertEquals(narrow + ": rows of 63 features, but the model takes 64", e.getMessage());

        // a label the model has no class for
        Path eleven = Files.write(dir.resolve("eleven.csv"), List.of(rows.get(0).replaceFirst("[0-9]+$", "11")));
        Exception label = assertThrows(Exception.class, () -> Evaluate.evaluate(model, eleven.toString(), null, List.of()));
        String message = LockstepCli.oneLine(label);
        assertTrue(message.contains(eleven.toString()) && message.contains("11") && message.contains("0..9"), message);

        // a zip without Lockstep's metadata
        Path bare = dir.resolve("bare.zip");
        org.deeplearning4j.util.ModelSerializer.writeModel(
            org.deeplearning4j.util.ModelSerializer.restoreMultiLayerNetwork(model.toFile()), bare.toFile(), false);
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
            () -> Evaluate.evaluate(bare, split[1].toString(), null, List.of()));
        assertTrue(none.getMessage().startsWith(bare + ": no lockstep.json in it"), none.getMessage());
    }
}
