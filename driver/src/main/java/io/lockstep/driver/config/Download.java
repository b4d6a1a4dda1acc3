package io.lockstep.driver.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** {@code data.download}: a public dataset fetched into the configured paths when its files are missing. */
public enum Download {
    /** The original MNIST IDX files (train and t10k images and labels). */
    MNIST;

    @JsonCreator
    public static Download parse(String name) {
        return Choices.parse(Download.class, name);
    }

    @JsonValue
    public String configName() {
        return Choices.name(this);
    }
}
