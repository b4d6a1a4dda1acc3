package io.lockstep.driver.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** {@code on_non_finite}: what a NaN/Inf loss or gradient does. */
public enum OnNonFinite {
    /** Stop the job (the default). */
    FAIL,
    /** Drop the step and count it. */
    SKIP;

    @JsonCreator
    public static OnNonFinite parse(String name) {
        return Choices.parse(OnNonFinite.class, name);
    }

    @JsonValue
    public String configName() {
        return Choices.name(this);
    }
}
