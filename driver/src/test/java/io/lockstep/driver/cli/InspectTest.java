package io.lockstep.driver.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.TestData;
import io.lockstep.driver.job.TrainingJob;
import io.lockstep.driver.output.ModelMetadata;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** {@code lockstep inspect} on what a real run wrote: its model.zip (with Lockstep's metadata) and a checkpoint. */
@Tag("slow")
class InspectTest {
    @TempDir
    Path dir;

    @Test
    void aModelAndACheckpointOfARealRunShowArchitectureNormalizationAndHowTheyWereTrained() throws Exception {
        Path[] split = TestData.digitsSplit(dir, 600);
        JobConfig cfg = TestData.digitsJob(split[0], split[1], dir.resolve("out"))
            .with("checkpoint.dir", dir.resolve("ckpt").toString())
            .with("spark.conf.spark.hadoop.fs.s3a.secret.key", "do-not-ship-me");
        Map<String, Object> summary = TrainingJob.run(cfg);
        Path model = dir.resolve("out/model.zip");

        ObjectNode m = Inspect.model(model);
        assertEquals("MultiLayerNetwork", m.get("model_class").asText());
        assertEquals(64 * 32 + 32 + 32 * 10 + 10, m.get("parameters").asLong());
        assertEquals(2, m.get("layers").size());
        assertEquals(64, m.get("layers").get(0).get("inputs").asInt());
        assertEquals("OutputLayer", m.get("layers").get(1).get("type").asText());
        assertEquals("standardize", m.get("normalization").get("kind").asText());
        assertEquals(64, m.get("normalization").get("features").asInt());
        JsonNode meta = m.get("lockstep");
        assertEquals(ModelMetadata.VERSION, meta.get("lockstep_version").asText());
        assertEquals(64, meta.get("features").asInt());
        assertEquals(10, meta.get("outputs").asInt());
        assertEquals("classification", meta.get("summary").get("task").asText());
        assertEquals(((Number) summary.get("steps")).longValue(), meta.get("summary").get("steps").asLong());
        assertEquals(((Map<?, ?>) summary.get("test")).get("accuracy"),
            meta.get("summary").get("test").get("accuracy").asDouble());
        assertEquals(32, meta.get("config").get("model").get("hidden").get(0).asInt());
        assertEquals("[redacted]", meta.get("config").get("spark").get("conf").get("spark.hadoop.fs.s3a.secret.key")
            .asText(), "credentials are not written into a model");

        String text = run("inspect", model.toString());
        assertTrue(text.startsWith("model " + model + "\n  MultiLayerNetwork, 2,410 parameters\n"), text);
        assertTrue(text.contains("  normalization: standardize (64 features)\n"), text);
        assertTrue(text.contains("task classification, 64 features, 10 outputs; " + summary.get("steps") + " steps"), text);
        assertTrue(text.contains("  test: loss ") && text.contains(", accuracy 0."), text);
        assertTrue(text.contains("    model.hidden: [32]\n"), text);
        assertFalse(text.contains("do-not-ship-me"), text);
        assertEquals(2410, new ObjectMapper().readTree(run("inspect", "--json", model.toString()))
            .get("parameters").asLong());

        Path ckpt;
        try (Stream<Path> files = Files.list(dir.resolve("ckpt"))) {
            ckpt = files.filter(f -> f.getFileName().toString().startsWith("ckpt-")).findFirst().orElseThrow();
        }
        ObjectNode c = Inspect.checkpoint(ckpt);
        assertEquals(((Number) summary.get("steps")).longValue(), c.get("step").asLong());
        assertEquals(2410, c.get("parameters").asLong());
        assertEquals(2 * 2410, c.get("optimizer_state_values").asLong(), "Adam's two slots");
        assertTrue(c.get("config").size() > 0);
        String ctext = run("inspect", ckpt.toString());
        assertTrue(ctext.startsWith("checkpoint " + ckpt + "\n  step " + summary.get("steps") + " (epoch "), ctext);

        Path junk = Files.writeString(dir.resolve("junk.bin"), "not a model");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Inspect.checkpoint(junk));
        assertTrue(e.getMessage().startsWith(junk + ": neither a model.zip nor a readable checkpoint"), e.getMessage());
    }

    private static String run(String... args) {
        PrintStream saved = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            assertEquals(0, LockstepCli.commandLine().execute(args));
        } finally {
            System.setOut(saved);
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
