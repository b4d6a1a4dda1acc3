package io.lockstep.driver.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** {@code data.normalize}: how features are scaled, fitted on the training split. */
public enum Normalize {
    /** As they are. */
    NONE,
    /** z-score per feature. */
    STANDARDIZE,
    /** To [0, 1] per feature. */
    MINMAX;

    @JsonCreator
    public static Normalize parse(String name) {
        return Choices.parse(Normalize.class, name);
    }

    @JsonValue
    public String configName() {
        return Choices.name(this);
    }
}
