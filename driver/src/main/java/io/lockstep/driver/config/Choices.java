package io.lockstep.driver.config;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** Enum values as a config writes them: lower case, read case-insensitively, an error listing the choices. */
final class Choices {
    private Choices() {
    }

    /** The constant named {@code name}; else "must be one of a, b, got 'x'" (the caller names the key). */
    static <E extends Enum<E>> E parse(Class<E> type, String name) {
        for (E e : type.getEnumConstants()) {
            if (name != null && e.name().equalsIgnoreCase(name.trim())) {
                return e;
            }
        }
        throw new IllegalArgumentException("must be one of " + Arrays.stream(type.getEnumConstants())
            .map(Choices::name).collect(Collectors.joining(", ")) + ", got '" + name + "'");
    }

    static String name(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }
}
