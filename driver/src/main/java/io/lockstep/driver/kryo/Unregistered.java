package io.lockstep.driver.kryo;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Kryo's refusal of a class nobody registered, said with what to do: Kryo's own message ("Class is not registered:
 * X. Note: To register this class use: kryo.register(X.class);") names a call a Spark user cannot make, and
 * reaches the driver deep in a task failure.
 */
public final class Unregistered {
    private static final Pattern KRYO = Pattern.compile("Class is not registered: ([^\\s]+)");

    private Unregistered() {
    }

    /** {@code e} itself, or, when Kryo refused an unregistered class anywhere in its chain, an error that says so. */
    public static RuntimeException explained(RuntimeException e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            Matcher m = t.getMessage() == null ? null : KRYO.matcher(t.getMessage());
            if (m != null && m.find()) {
                return new IllegalStateException(message(m.group(1)), e);
            }
        }
        return e;
    }

    static String message(String className) {
        return "Class is not registered: " + className + " — add it with spark.kryo.registrator or set"
            + " spark.kryo.registrationRequired=false";
    }
}
