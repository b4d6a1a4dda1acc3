package io.lockstep.driver.data;

import io.lockstep.driver.config.ConfigRules;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

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

    /** The task named by the config key {@code task} (case-insensitive); the caller names the key in an error. */
    @JsonCreator
    public static Task of(String name) {
        for (Task t : values()) {
            if (t.key().equalsIgnoreCase(name == null ? "" : name.trim())) {
                return t;
            }
        }
        throw new IllegalArgumentException("must be one of classification, binary, regression, got '" + name + "'");
    }

    /** The name used in the config. */
    @JsonValue
    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Why {@code v} cannot be a label of this task, or null when it can. {@code minusOneIsZero}:
     * LibSVM's -1/+1 convention for binary labels. {@code classes}: {@code data.classes}, or null when
     * the training labels decide; class indices must be below it, and below
     * {@link ConfigRules#MAX_CLASSES} in any case (a label of 1e9 would otherwise ask for one-hot
     * vectors of a billion floats).
     */
    String labelProblem(double v, boolean minusOneIsZero, Integer classes) {
        if (!Double.isFinite(v)) {
            return "is not finite";
        }
        switch (this) {
            case CLASSIFICATION:
                if (v != Math.rint(v) || v < 0) {
                    return "is not a class index (0, 1, 2, ...)";
                }
                if (classes != null && v >= classes) {
                    return "is outside 0.." + (classes - 1) + " (data.classes is " + classes + ")";
                }
                return v < ConfigRules.MAX_CLASSES ? null : "is too large a class index: a job has at most "
                    + ConfigRules.MAX_CLASSES + " classes (0.." + (ConfigRules.MAX_CLASSES - 1) + ")";
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
