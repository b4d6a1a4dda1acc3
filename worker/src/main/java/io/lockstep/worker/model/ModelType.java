package io.lockstep.worker.model;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** {@code model.type}: which network a job trains. */
public enum ModelType {
    /** Fully connected: {@code model.hidden} widths with {@code model.activation}. */
    MLP,
    /** A LeNet-style CNN on flat image rows. */
    LENET,
    /** A DL4J configuration JSON file at {@code model.path} (either network kind). */
    JSON,
    /** A user class implementing {@link ModelFactory}, named by {@code model.factory}. */
    FACTORY;

    /** The type named {@code name} (any case); else an error listing the types. */
    public static ModelType parse(String name) {
        for (ModelType t : values()) {
            if (name != null && t.name().equalsIgnoreCase(name.trim())) {
                return t;
            }
        }
        throw new IllegalArgumentException("model.type must be one of " + Arrays.stream(values())
            .map(ModelType::key).collect(Collectors.joining(", ")) + ", got '" + name + "'");
    }

    /** The name a config writes. */
    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** A network whose own file or class configures it (dropout, updater, layers). */
    public boolean isUserDefined() {
        return this == JSON || this == FACTORY;
    }
}
