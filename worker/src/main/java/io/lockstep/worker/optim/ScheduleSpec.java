package io.lockstep.worker.optim;

import java.io.Serial;
import java.io.Serializable;

/**
 * The shape of the learning-rate schedule ({@code optimizer.schedule.*}), independent of the base
 * rate and of the run length; {@link LrSchedule#of} combines it with those into the schedule DL4J runs.
 *
 * <p>With {@code t} the global step (0-based), {@code W = warmupSteps}, {@code s = t - W} and
 * {@code base} the (possibly worker-scaled) base rate:
 * <pre>
 *   t &lt; W:        lr(t) = base * (t + 1) / W                  linear warmup, reaches base at t = W - 1
 *   constant:     lr(t) = base
 *   step:         lr(t) = base * decayRate ^ floor(s / decaySteps)
 *   exponential:  lr(t) = base * decayRate ^ (s / decaySteps)       (continuous exponent)
 *   cosine:       lr(t) = minLr + (base - minLr) * (1 + cos(pi * min(1, s / (totalSteps - W)))) / 2
 * </pre>
 * Fields that a kind does not use keep neutral values ({@code decayRate = 1}, {@code decaySteps = 1},
 * {@code minLr = 0}) and are still range-checked, so a typo is reported even where it would be ignored.
 *
 * @param kind        {@code optimizer.schedule.kind}
 * @param warmupSteps {@code optimizer.schedule.warmup_steps}, {@code >= 0}; 0 = no warmup
 * @param decayRate   {@code optimizer.schedule.decay_rate}, in (0, 1] (step, exponential)
 * @param decaySteps  {@code optimizer.schedule.decay_steps}, {@code >= 1} (step, exponential)
 * @param minLr       {@code optimizer.schedule.min_lr}, {@code >= 0}, an absolute rate (cosine; not worker-scaled)
 */
public record ScheduleSpec(Kind kind, long warmupSteps, double decayRate, long decaySteps, double minLr)
    implements Serializable {

    @Serial
    private static final long serialVersionUID = 1L;

    /** Constant rate, no warmup: what an absent {@code optimizer.schedule} means. */
    public static final ScheduleSpec CONSTANT = constant(0);

    public enum Kind {
        CONSTANT, STEP, EXPONENTIAL, COSINE;

        /** Parses the YAML value of {@code optimizer.schedule.kind} (case-insensitive). */
        public static Kind parse(String name) {
            return ConfigNames.parse(Kind.class, "optimizer.schedule.kind", name);
        }

        /** The name as written in YAML. */
        public String key() {
            return ConfigNames.key(this);
        }
    }

    public ScheduleSpec {
        if (kind == null) {
            throw new IllegalArgumentException("optimizer.schedule.kind is required (constant, step, exponential, cosine)");
        }
        if (warmupSteps < 0) {
            throw new IllegalArgumentException("optimizer.schedule.warmup_steps must be >= 0, got " + warmupSteps);
        }
        if (!(decayRate > 0 && decayRate <= 1)) {
            throw new IllegalArgumentException("optimizer.schedule.decay_rate must be in (0, 1], got " + Num.str(decayRate));
        }
        if (decaySteps < 1) {
            throw new IllegalArgumentException("optimizer.schedule.decay_steps must be >= 1, got " + decaySteps);
        }
        if (!(minLr >= 0) || Double.isInfinite(minLr)) {
            throw new IllegalArgumentException("optimizer.schedule.min_lr must be >= 0, got " + Num.str(minLr));
        }
    }

    public static ScheduleSpec constant(long warmupSteps) {
        return new ScheduleSpec(Kind.CONSTANT, warmupSteps, 1, 1, 0);
    }

    /** {@code lr = base * decayRate ^ floor((t - warmup) / decaySteps)}. */
    public static ScheduleSpec step(long warmupSteps, double decayRate, long decaySteps) {
        return new ScheduleSpec(Kind.STEP, warmupSteps, decayRate, decaySteps, 0);
    }

    /** {@code lr = base * decayRate ^ ((t - warmup) / decaySteps)}. */
    public static ScheduleSpec exponential(long warmupSteps, double decayRate, long decaySteps) {
        return new ScheduleSpec(Kind.EXPONENTIAL, warmupSteps, decayRate, decaySteps, 0);
    }

    /** Half cosine from base down to {@code minLr} over the steps after warmup. */
    public static ScheduleSpec cosine(long warmupSteps, double minLr) {
        return new ScheduleSpec(Kind.COSINE, warmupSteps, 1, 1, minLr);
    }
}
