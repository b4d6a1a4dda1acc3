package io.lockstep.driver.config;

import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertThrows;

/** A job.yaml in a fresh folder per test, and the one-line error loading it gives. */
abstract class ConfigFiles {
    static final String MINIMAL = "data: {format: csv, train: a.csv, test: b.csv}\n";

    @TempDir
    Path dir;

    Path yaml(String text) throws IOException {
        Path p = dir.resolve("job.yaml");
        Files.writeString(p, text);
        return p;
    }

    String error(String text, String... overrides) throws IOException {
        Path p = yaml(text);
        return assertThrows(ConfigLoader.ConfigException.class, () -> ConfigLoader.load(p, List.of(overrides)))
            .getMessage();
    }
}
