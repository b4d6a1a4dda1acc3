package io.lockstep.driver.config;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Values YAML and Jackson would otherwise let through quietly: fractions for integers, infinities, keys given twice. */
class StrictConfigTest extends ConfigFiles {
    @Test
    void aFractionForAnIntegerKeyIsRefusedNamingKeyAndValue() throws IOException {
        Path p = dir.resolve("job.yaml");
        assertEquals(p + ": config key 'workers' must be a whole number, got 1.7", error(MINIMAL + "workers: 1.7\n"));
        assertEquals(p + ": config key 'batch_size' must be a whole number, got 32.5",
            error(MINIMAL, "batch_size=32.5"));
        assertEquals(p + ": config key 'model.hidden[1]' must be a whole number, got 16.5",
            error(MINIMAL + "model: {hidden: [64, 16.5]}\n"));
        assertEquals(p + ": config key 'ps.term_length' must be auto or a power of two in [65536, 1073741824], got '1.0E7'",
            error(MINIMAL + "ps: {term_length: 1e7}\n"));
        // whole numbers still bind
        assertEquals(3, ConfigLoader.load(yaml(MINIMAL + "workers: 3\n"), List.of()).workers());
    }

    @Test
    void everyDoubleKeyMustBeFinite() throws IOException {
        assertEquals("config key 'optimizer.lr' must be a finite number, got Infinity (the value is too large for a"
            + " double)", error(MINIMAL + "optimizer: {lr: 1e400}\n"));
        assertEquals("config key 'optimizer.schedule.min_lr' must be a finite number, got -Infinity (the value is"
            + " too large for a double)", error(MINIMAL, "optimizer.schedule.min_lr=-1e999"));
        assertEquals("config key 'clipping.threshold' must be a finite number, got NaN",
            error(MINIMAL + "clipping: {mode: norm, threshold: NaN}\n"));
        assertEquals("config key 'optimizer.beta2' must be a finite number, got Infinity (the value is too large"
            + " for a double)", error(MINIMAL + "optimizer: {beta2: 'Infinity'}\n"));
        assertEquals("config key 'data.validation_fraction' must be a finite number, got NaN",
            error(MINIMAL, "data.validation_fraction=NaN"));
    }

    @Test
    void aConfigBuiltInCodeIsCheckedForInfinitiesToo() {
        JobConfig c = JobConfig.defaults()
            .with("data.format", DataFormat.CSV)
            .with("data.train", "a.csv")
            .with("data.test", "b.csv")
            .with("model.dropout", Double.POSITIVE_INFINITY);
        var e = assertThrows(ConfigLoader.ConfigException.class, () -> ConfigLoader.checked(c, true));
        assertEquals("config key 'model.dropout' must be a finite number, got Infinity (the value is too large for"
            + " a double)", e.getMessage());
    }

    @Test
    void aKeyGivenTwiceIsRefusedNamingKeyLineAndColumn() throws IOException {
        Path p = dir.resolve("job.yaml");
        assertEquals(p + ": line 3, column 8: config key 'workers' is given twice",
            error(MINIMAL + "workers: 2\nworkers: 3\n"));
        assertEquals(p + ": line 4, column 5: config key 'optimizer.lr' is given twice",
            error(MINIMAL + "optimizer:\n  lr: 0.1\n  lr: 0.2\n"));
    }

    @Test
    void shardsAndClassesHaveSaneBounds() throws IOException {
        String shards = error(MINIMAL + "ps: {shards: 1000}\n");
        assertTrue(shards.startsWith("config key 'ps.shards' must be <= 64, got 1000: each shard is a server thread"),
            shards);
        assertEquals(64, ConfigLoader.load(yaml(MINIMAL + "ps: {shards: 64}\n"), List.of()).ps().shards());
        assertEquals("config key 'data.classes' must be >= 2 and <= 100000 (labels are stored one-hot, one float per"
            + " class per row), got 1000000000", error(MINIMAL, "data.classes=1000000000"));
    }

    @Test
    void aWildcardPsHostIsRefusedForItCannotBeAnnounced() throws IOException {
        for (String wildcard : List.of("0.0.0.0", "::", "[::]", "0:0:0:0:0:0:0:0")) {
            String e = error(MINIMAL, "ps.host='" + wildcard + "'"); // quoted: [::] would be a YAML list
            assertTrue(e.startsWith("config key 'ps.host' is " + wildcard + ", which binds every interface but is no"
                + " address executors can send to"), e);
            assertTrue(e.endsWith("or remove ps.host to use the address Spark gives the driver (spark.driver.host)"), e);
        }
        assertEquals("10.77.0.10", ConfigLoader.load(yaml(MINIMAL), List.of("ps.host=10.77.0.10")).ps().host());
        assertNull(ConfigLoader.load(yaml(MINIMAL), List.of()).ps().host(), "unset: the driver's address Spark knows");
    }
}
