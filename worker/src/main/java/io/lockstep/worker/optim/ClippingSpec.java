package io.lockstep.worker.optim;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.Serial;
import java.io.Serializable;

/**
 * The {@code clipping:} section of a job config: how the averaged gradient is clipped before the updater.
 *
 * @param mode      {@code clipping.mode}: none, norm (global L2 norm), value (each element)
 * @param threshold {@code clipping.threshold}: the max global norm, or the max |element|; &gt; 0 unless mode none
 */
public record ClippingSpec(Mode mode, double threshold) implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    public static final ClippingSpec NONE = new ClippingSpec(Mode.NONE, 0);

    public enum Mode {
        NONE, NORM, VALUE;

        /** Parses the YAML value of {@code clipping.mode} (case-insensitive). */
        public static Mode parse(String name) {
            return ConfigNames.parse(Mode.class, "clipping.mode", name);
        }

        public String key() {
            return ConfigNames.key(this);
        }
    }

    public ClippingSpec {
        if (mode == null) {
            throw new IllegalArgumentException("clipping.mode is required (none, norm, value)");
        }
        if (mode != Mode.NONE && (!(threshold > 0) || Double.isInfinite(threshold))) {
            throw new IllegalArgumentException("clipping.threshold must be > 0 for clipping.mode " + mode.key()
                + ", got " + Num.str(threshold));
        }
    }

    public static ClippingSpec norm(double maxNorm) {
        return new ClippingSpec(Mode.NORM, maxNorm);
    }

    public static ClippingSpec value(double limit) {
        return new ClippingSpec(Mode.VALUE, limit);
    }

    /**
     * Clips {@code flat} in place. Returns the statistic the mode tests, measured before clipping:
     * the global L2 norm (norm), the largest |element| (value), or NaN (none: nothing is read).
     */
    public double apply(INDArray flat) {
        return switch (mode) {
            case NONE -> Double.NaN;
            case NORM -> GradientClipping.clipByGlobalNorm(flat, threshold);
            case VALUE -> GradientClipping.clipByValue(flat, threshold);
        };
    }
}
