package io.lockstep.driver.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** {@code data.format}: how the train, validation and test files are read. */
public enum DataFormat {
    /** MNIST-style image and label files. */
    IDX,
    /** Numeric columns, the label among them. */
    CSV,
    /** Columns by name (also how the Java API reads datasets). */
    PARQUET,
    /** label index:value ... */
    LIBSVM;

    @JsonCreator
    public static DataFormat parse(String name) {
        return Choices.parse(DataFormat.class, name);
    }

    @JsonValue
    public String configName() {
        return Choices.name(this);
    }

    @Override
    public String toString() {
        return configName();
    }
}
