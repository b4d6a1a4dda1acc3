package io.lockstep.driver.data;

import io.lockstep.driver.config.ConfigLoader;

import java.util.Locale;

/**
 * What the labels mean, which decides how they are checked and encoded: class indices one-hot
 * encoded, 0/1 in one column (sigmoid output, binary cross-entropy), or real-valued targets.
 */
public enum Task {
    /** Labels are class indices 0..k-1; label vectors are one-hot, k wide. */
    CLASSIFICATION,
    /** Labels are 0 or 1 (LibSVM also -1 for 0); label vectors are [label]. */
    BINARY,
    /** Labels are real targets; label vectors are [target]. */
    REGRESSION;

    /** The task named by the config key {@code task} (case-insensitive). */
    public static Task of(String name) {
        for (Task t : values()) {
            if (t.key().equalsIgnoreCase(name == null ? "" : name.trim())) {
                return t;
            }
        }
        throw new ConfigLoader.ConfigException("config key 'task' must be one of classification, binary, regression,"
            + " got '" + name + "'");
    }

    /** The name used in the config. */
    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Why {@code v} cannot be a label of this task, or null when it can. {@code minusOneIsZero}:
     * LibSVM's -1/+1 convention for binary labels.
     */
    String labelProblem(double v, boolean minusOneIsZero) {
        if (!Double.isFinite(v)) {
            return "is not finite";
        }
        switch (this) {
            case CLASSIFICATION:
                return v == Math.rint(v) && v >= 0 && v < 1 << 24 ? null : "is not a class index (0, 1, 2, ...)";
            case BINARY:
                return v == 0 || v == 1 || minusOneIsZero && v == -1 ? null
                    : minusOneIsZero ? "is not a binary label (0 or 1; -1 reads as 0)" : "is not 0 or 1 (task binary)";
            default:
                return Float.isInfinite((float) v) ? Values.OVERFLOW : null;
        }
    }

    /** The label as stored once {@link #labelProblem} found none: class index, 0/1 or the target. */
    float label(double v) {
        return this == BINARY && v == -1 ? 0f : (float) v;
    }
}
