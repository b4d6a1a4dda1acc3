package io.lockstep.driver.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** {@code ps.transport}: how workers and shards exchange frames. */
public enum Transport {
    /** ipc when every worker runs in the driver's JVM (embedded Spark) and the shards there too, else udp. */
    AUTO,
    /** Aeron UDP: also across machines. */
    UDP,
    /** Aeron IPC: shared memory, workers in the server's JVM only. */
    IPC;

    @JsonCreator
    public static Transport parse(String name) {
        return Choices.parse(Transport.class, name);
    }

    @JsonValue
    public String configName() {
        return Choices.name(this);
    }
}
