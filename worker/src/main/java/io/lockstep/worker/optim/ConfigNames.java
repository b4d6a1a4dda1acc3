package io.lockstep.worker.optim;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** Enum values as YAML writes them: lower case, parsed case-insensitively, errors naming the key and the choices. */
final class ConfigNames {
    private ConfigNames() {
    }

    static <E extends Enum<E>> E parse(Class<E> type, String key, String name) {
        String choices = Arrays.stream(type.getEnumConstants()).map(ConfigNames::key)
            .collect(Collectors.joining(", "));
        if (name == null) {
            throw new IllegalArgumentException(key + " is required (" + choices + ")");
        }
        try {
            return Enum.valueOf(type, name.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(key + ": unknown '" + name + "' (" + choices + ")");
        }
    }

    static String key(Enum<?> value) {
        return value.name().toLowerCase(Locale.ROOT);
    }
}
