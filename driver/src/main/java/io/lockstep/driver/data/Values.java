package io.lockstep.driver.data;

/** Checks on single input values; a message fragment names the problem, the caller names the place. */
final class Values {
    static final String OVERFLOW = "overflows a float (largest " + Float.MAX_VALUE + ")";

    private Values() {
    }

    /** Why {@code v} cannot be a feature value, or null when it can: NaN, infinite, or too large for a float. */
    static String featureProblem(double v) {
        if (!Double.isFinite(v)) {
            return "is not finite";
        }
        return Float.isInfinite((float) v) ? OVERFLOW : null;
    }

    /** A number as written in a message: integers without ".0". */
    static String text(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? String.valueOf((long) v) : String.valueOf(v);
    }
}
