package io.lockstep.ps.optim;

import java.io.Serial;
import java.io.Serializable;
import java.util.Objects;

/**
 * The optimizer step a parameter-server shard applies to its slice of the averaged gradient, mirrored
 * from the workers' DL4J updater (see the worker's {@code ServerPlan}): clipping, coupled L1/L2 before the
 * rule, the rule, decoupled weight decay after it, then {@code w -= step}. Which parameters each part
 * touches is in {@link ParamRoles}.
 *
 * @param kind        SGD ({@code step = lr*g}), MOMENTUM (PyTorch's form: {@code b = mu*b + g}, step
 *                    {@code lr*b}, or Nesterov {@code lr*(g + mu*b)}), ADAM (DL4J's bias-corrected form:
 *                    {@code step = lr*sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v)+eps)}), RMSPROP
 *                    ({@code r = d*r + (1-d)*g^2}, {@code step = lr*g/(sqrt(r)+eps)})
 * @param rate        learning rate by global step
 * @param clip        NONE, NORM (global L2 norm over every shard), VALUE (each element)
 * @param threshold   the max norm or the max |element|
 */
public record UpdateRule(Kind kind, StepRate rate, double momentum, boolean nesterov, double beta1, double beta2,
                         double epsilon, double rmsDecay, double l1, double l2, double weightDecay,
                         Clip clip, double threshold) implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    /** Added to the norm in the clip scale {@code max/(norm + 1e-6)}, as PyTorch's {@code clip_grad_norm_}. */
    public static final double NORM_EPSILON = 1e-6;

    public enum Kind { SGD, MOMENTUM, ADAM, RMSPROP }

    public enum Clip { NONE, NORM, VALUE }

    public UpdateRule {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(rate, "rate");
        Objects.requireNonNull(clip, "clip");
    }

    /** Floats of optimizer state per parameter: Adam m and v, the momentum buffer, RMSProp's mean square. */
    public int stateSlots() {
        return switch (kind) {
            case SGD -> 0;
            case MOMENTUM, RMSPROP -> 1;
            case ADAM -> 2;
        };
    }

    /**
     * The factor the whole averaged gradient is scaled by, given its global L2 norm (1 unless clipped by norm).
     * A double, as the replica's {@code GradientClipping} uses it: each element is multiplied in double and
     * rounded once, so the factor must not be rounded to float first (nor sent as one between shards).
     */
    public double clipScale(double norm) {
        return clip == Clip.NORM && Double.isFinite(norm) && norm > threshold ? threshold / (norm + NORM_EPSILON) : 1;
    }
}
