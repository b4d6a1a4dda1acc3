package io.lockstep.driver.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/**
 * {@code task}: what the labels mean, which decides how they are checked and encoded (the rules per task are
 * {@code driver.data.Labels}): class indices one-hot encoded, 0/1 in one column (sigmoid output, binary
 * cross-entropy), or real-valued targets.
 */
public enum Task {
    /** Labels are class indices 0..k-1; label vectors are one-hot, k wide. */
    CLASSIFICATION,
    /** Labels are 0 or 1 (LibSVM also -1 for 0); label vectors are [label]. */
    BINARY,
    /** Labels are real targets; label vectors are [target]. */
    REGRESSION;

    /** The task named by the config key {@code task} (case-insensitive); the caller names the key in an error. */
    @JsonCreator
    public static Task of(String name) {
        return Choices.parse(Task.class, name);
    }

    /** The name used in the config. */
    @JsonValue
    public String key() {
        return Choices.name(this);
    }
}
