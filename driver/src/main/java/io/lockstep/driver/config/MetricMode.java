package io.lockstep.driver.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** {@code checkpoint.mode}, {@code early_stopping.mode}: whether a smaller or a larger metric is better. */
public enum MetricMode {
    MIN,
    MAX;

    @JsonCreator
    public static MetricMode parse(String name) {
        return Choices.parse(MetricMode.class, name);
    }

    @JsonValue
    public String configName() {
        return Choices.name(this);
    }
}
