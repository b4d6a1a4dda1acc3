package io.lockstep.driver.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** {@code ps.shard_placement}: where the parameter-server shards run. */
public enum ShardPlacement {
    /** executors when the workers exchange over UDP outside the driver's JVM, else driver. */
    AUTO,
    /** Threads of the driver's JVM. */
    DRIVER,
    /** Next to the workers, one shard per worker at least, so no machine takes every worker's gradient. */
    EXECUTORS;

    @JsonCreator
    public static ShardPlacement parse(String name) {
        return Choices.parse(ShardPlacement.class, name);
    }

    @JsonValue
    public String configName() {
        return Choices.name(this);
    }
}
