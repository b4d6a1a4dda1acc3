package io.lockstep.driver.data;

import io.lockstep.driver.config.ConfigRules;
import io.lockstep.driver.config.Task;

/** What a label may be under each {@link Task}, and how it is stored: one rule for every reader. */
final class Labels {
    private Labels() {
    }

    /**
     * Why {@code v} cannot be a label of {@code task}, or null when it can. {@code minusOneIsZero}:
     * LibSVM's -1/+1 convention for binary labels. {@code classes}: {@code data.classes}, or null when
     * the training labels decide; class indices must be below it, and below
     * {@link ConfigRules#MAX_CLASSES} in any case (a label of 1e9 would otherwise ask for one-hot
     * vectors of a billion floats).
     */
    static String problem(Task task, double v, boolean minusOneIsZero, Integer classes) {
        if (!Double.isFinite(v)) {
            return "is not finite";
        }
        switch (task) {
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

    /** The label as stored once {@link #problem} found none: class index, 0/1 or the target. */
    static float stored(Task task, double v) {
        return task == Task.BINARY && v == -1 ? 0f : (float) v;
    }
}
