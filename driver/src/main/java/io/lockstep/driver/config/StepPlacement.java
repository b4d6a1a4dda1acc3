package io.lockstep.driver.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** {@code optimizer.step_placement}: who applies the optimizer step. */
public enum StepPlacement {
    /** The parameter server's shards apply the step once, to their slices, and send back parameters. */
    SERVER,
    /** Every worker applies DL4J's updater to the averaged gradient. */
    REPLICA,
    /** server when the shards can mirror the model's updater, else replica (the default). */
    AUTO;

    @JsonCreator
    public static StepPlacement parse(String name) {
        return Choices.parse(StepPlacement.class, name);
    }

    @JsonValue
    public String configName() {
        return Choices.name(this);
    }
}
