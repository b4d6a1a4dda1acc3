package io.lockstep.driver.data;

import io.lockstep.driver.config.Task;
import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The task and data.* keys as a job YAML gives them: types, defaults, and errors naming the key. */
class DataConfigTest {
    @TempDir
    Path dir;

    JobConfig load(String yaml, String... overrides) throws IOException {
        Path file = dir.resolve("job.yaml");
        Files.writeString(file, "data: {train: a, test: b}\n" + yaml);
        return ConfigLoader.load(file, List.of(overrides));
    }

    String error(String yaml, String... overrides) {
        return assertThrows(ConfigLoader.ConfigException.class, () -> load(yaml, overrides)).getMessage();
    }

    @Test
    void defaults() throws IOException {
        JobConfig c = load("");
        assertNull(c.data().labelColumn());
        assertNull(c.data().validation());
        assertNull(c.data().validationFraction());
        assertNull(c.data().featuresColumn());
        assertNull(c.data().featureColumns());
        assertNull(c.data().features());
        assertEquals(Task.CLASSIFICATION, c.task());
    }

    @Test
    void newKeysBind() throws IOException {
        JobConfig c = load("task: regression\n", "data.format=parquet", "data.label_column=y",
            "data.feature_columns=[a, b]", "data.validation_fraction=0.25");
        assertEquals(Task.REGRESSION, c.task());
        assertFalse(c.data().labelColumn().isIndex());
        assertEquals("y", c.data().labelColumn().name());
        assertEquals(List.of("a", "b"), c.data().featureColumns());
        assertEquals(0.25, c.data().validationFraction());

        JobConfig csv = load("", "data.format=csv", "data.label_column=0");
        assertTrue(csv.data().labelColumn().isIndex());
        assertEquals(0, csv.data().labelColumn().index());
        JobConfig svm = load("", "data.format=libsvm", "data.features=784", "data.validation=v.svm", "task=binary");
        assertEquals(784, svm.data().features());
        assertEquals("v.svm", svm.data().validation());
    }

    @Test
    void badValuesNameTheirKey() {
        assertTrue(error("task: ranking\n").endsWith(
            "job.yaml: config key 'task' must be one of classification, binary, regression, got 'ranking'"));
        assertTrue(error("", "data.format=orc").endsWith(
            "job.yaml: config key 'data.format' must be one of idx, csv, parquet, libsvm, got 'orc'"));
        assertTrue(error("", "data.normalize=zscore").endsWith(
            "job.yaml: config key 'data.normalize' must be one of none, standardize, minmax, got 'zscore'"));
        assertEquals("config keys 'data.validation' and 'data.validation_fraction' are both set; use one of them",
            error("", "data.validation=v.csv", "data.validation_fraction=0.1"));
        assertEquals("config key 'data.validation_fraction' must be > 0 and < 1, got 1.0",
            error("", "data.validation_fraction=1"));
        assertEquals("config key 'data.label_column' must be a column name for data.format parquet, got -1",
            error("", "data.format=parquet", "data.label_column=-1"));
        assertEquals("config key 'data.label_column' is a column name ('target'), which needs data.header: true for csv",
            error("", "data.format=csv", "data.label_column=target"));
        assertEquals("config key 'data.label_column' does not apply to data.format libsvm (the label is part of the"
            + " format)", error("", "data.format=libsvm", "data.label_column=0"));
        assertTrue(error("", "data.format=csv", "data.label_column=[1, 2]")
            .endsWith("job.yaml: config key 'data.label_column': expected a column index (integer) or a column name, got '[1, 2]'"),
            error("", "data.format=csv", "data.label_column=[1, 2]"));
        assertEquals("config keys 'data.features_column' and 'data.feature_columns' are both set; use one of them",
            error("", "data.format=parquet", "data.features_column=f", "data.feature_columns=[a]"));
        assertEquals("config key 'data.features_column' applies to data.format parquet only",
            error("", "data.format=csv", "data.features_column=f"));
        assertEquals("config key 'data.feature_columns' contains the label column 'y'",
            error("", "data.format=parquet", "data.label_column=y", "data.feature_columns=[a, y]"));
        assertEquals("config key 'data.features' applies to data.format libsvm only", error("", "data.features=3"));
        assertEquals("config key 'data.features' must be >= 1, got 0",
            error("", "data.format=libsvm", "data.features=0"));
        assertEquals("config key 'data.classes' applies to task classification only (task is regression)",
            error("task: regression\n", "data.classes=3"));
        assertEquals("config key 'data.classes' applies to task classification only (task is binary)",
            error("task: binary\n", "data.classes=3"));
    }
}
