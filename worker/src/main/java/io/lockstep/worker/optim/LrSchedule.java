package io.lockstep.worker.optim;

import io.lockstep.ps.optim.StepRate;
import io.lockstep.worker.optim.ScheduleSpec.Kind;
import org.nd4j.linalg.schedule.ISchedule;
import org.nd4j.shade.jackson.annotation.JsonAutoDetect;
import org.nd4j.shade.jackson.annotation.JsonCreator;
import org.nd4j.shade.jackson.annotation.JsonProperty;

import java.io.Serial;
import java.util.Objects;

/**
 * The learning rate as a function of the GLOBAL step, as a DL4J {@link ISchedule}.
 *
 * <p>DL4J asks the updater's schedule for {@code valueAt(iteration, epoch)}, and the replica loop
 * passes the global step as {@code iteration} (0 for the first update), so every replica uses
 * the same rate at the same step. The epoch is ignored: "epoch" is per replica data, the step is not.
 *
 * <p>With {@code t} the global step, {@code W = warmupSteps} and {@code s = t - W}:
 * <pre>
 *   t &lt; W:        lr(t) = base * (t + 1) / W        (linear warmup: base/W at t = 0, base at t = W - 1)
 *   constant:     lr(t) = base
 *   step:         lr(t) = base * decayRate ^ floor(s / decaySteps)
 *   exponential:  lr(t) = base * decayRate ^ (s / decaySteps)
 *   cosine:       lr(t) = minLr + (base - minLr) * (1 + cos(pi * min(1, s / (totalSteps - W)))) / 2
 * </pre>
 * {@code base} is {@code optimizer.lr}, times the number of workers under {@code lr_scaling: linear}.
 * Cosine reaches {@code minLr} at {@code t = totalSteps} (one past the last step, as PyTorch's
 * CosineAnnealingLR with {@code T_max = totalSteps - W}) and stays there if training runs longer.
 *
 * <p>It is also the parameter server's {@link StepRate}: a shard applying the optimizer reads the same rate
 * at the same global step.
 *
 * <p>It is immutable and serializes into the model JSON (shaded Jackson, {@code "@class"} type
 * property inherited from {@link ISchedule}, fields by name), so the class name and the JSON property
 * names are part of the saved-model format: rename neither without a migration.
 */
@JsonAutoDetect(fieldVisibility = JsonAutoDetect.Visibility.ANY, getterVisibility = JsonAutoDetect.Visibility.NONE,
    isGetterVisibility = JsonAutoDetect.Visibility.NONE, setterVisibility = JsonAutoDetect.Visibility.NONE)
public final class LrSchedule implements ISchedule, StepRate {
    @Serial
    private static final long serialVersionUID = 1L;

    private final double base;
    private final Kind kind;
    private final long warmupSteps;
    private final double decayRate;
    private final long decaySteps;
    private final double minLr;
    private final long totalSteps;

    /**
     * @param base       the rate after warmup, already scaled by workers where asked
     * @param spec       the schedule shape
     * @param totalSteps the number of global steps in the run (cosine's horizon), {@code >= 1}
     */
    public LrSchedule(double base, ScheduleSpec spec, long totalSteps) {
        this(base, spec.kind(), spec.warmupSteps(), spec.decayRate(), spec.decaySteps(), spec.minLr(), totalSteps);
    }

    @JsonCreator
    public LrSchedule(@JsonProperty("base") double base,
                      @JsonProperty("kind") Kind kind,
                      @JsonProperty("warmupSteps") long warmupSteps,
                      @JsonProperty("decayRate") double decayRate,
                      @JsonProperty("decaySteps") long decaySteps,
                      @JsonProperty("minLr") double minLr,
                      @JsonProperty("totalSteps") long totalSteps) {
        new ScheduleSpec(kind, warmupSteps, decayRate, decaySteps, minLr); // the same per-key checks
        if (!(base > 0) || Double.isInfinite(base)) {
            throw new IllegalArgumentException("optimizer.lr: the base rate must be > 0, got " + Num.str(base));
        }
        if (minLr > base) {
            throw new IllegalArgumentException("optimizer.schedule.min_lr (" + Num.str(minLr)
                + ") must be <= the base rate (" + Num.str(base) + ")");
        }
        if (totalSteps < 1) {
            throw new IllegalArgumentException("total steps must be >= 1, got " + totalSteps);
        }
        if (warmupSteps > totalSteps) {
            throw new IllegalArgumentException("optimizer.schedule.warmup_steps (" + warmupSteps
                + ") must be <= the total steps of the run (" + totalSteps + ")");
        }
        if (kind == Kind.COSINE && warmupSteps >= totalSteps) {
            throw new IllegalArgumentException("optimizer.schedule.warmup_steps (" + warmupSteps
                + ") must be < the total steps of the run (" + totalSteps + ") for optimizer.schedule.kind cosine");
        }
        this.base = base;
        this.kind = kind;
        this.warmupSteps = warmupSteps;
        this.decayRate = decayRate;
        this.decaySteps = decaySteps;
        this.minLr = minLr;
        this.totalSteps = totalSteps;
    }

    /**
     * The schedule a run uses: base = {@code spec.lr()} × ({@code workers} under linear scaling, else 1),
     * shaped by {@code spec.schedule()} over {@code totalSteps} global steps.
     */
    public static LrSchedule of(OptimizerSpec spec, int workers, long totalSteps) {
        double base = spec.lr() * spec.lrScaling().factor(workers);
        return new LrSchedule(base, spec.schedule(), totalSteps);
    }

    /** The learning rate at global step {@code step} (0-based); the formulas are in the class comment. */
    @Override
    public double rate(long step) {
        if (step < 0) {
            throw new IllegalArgumentException("step must be >= 0, got " + step);
        }
        if (step < warmupSteps) {
            return base * (step + 1) / warmupSteps;
        }
        long s = step - warmupSteps;
        return switch (kind) {
            case CONSTANT -> base;
            case STEP -> base * Math.pow(decayRate, s / decaySteps); // long division = floor for s >= 0
            case EXPONENTIAL -> base * Math.pow(decayRate, (double) s / decaySteps);
            case COSINE -> {
                double progress = Math.min(1.0, (double) s / (totalSteps - warmupSteps));
                yield minLr + (base - minLr) * (1 + Math.cos(Math.PI * progress)) / 2;
            }
        };
    }

    /** DL4J's entry point: {@code iteration} is the global step; {@code epoch} is ignored. */
    @Override
    public double valueAt(int iteration, int epoch) {
        return rate(iteration);
    }

    /** Immutable, so the instance itself. */
    @Override
    public LrSchedule clone() {
        return this;
    }

    public double base() {
        return base;
    }

    public Kind kind() {
        return kind;
    }

    public long warmupSteps() {
        return warmupSteps;
    }

    public long totalSteps() {
        return totalSteps;
    }

    @Override
    public boolean equals(Object o) {
        // DL4J merges layers into one updater block only when their updaters (and so schedules) are equal
        return o instanceof LrSchedule that
            && Double.compare(base, that.base) == 0 && kind == that.kind && warmupSteps == that.warmupSteps
            && Double.compare(decayRate, that.decayRate) == 0 && decaySteps == that.decaySteps
            && Double.compare(minLr, that.minLr) == 0 && totalSteps == that.totalSteps;
    }

    @Override
    public int hashCode() {
        return Objects.hash(base, kind, warmupSteps, decayRate, decaySteps, minLr, totalSteps);
    }

    @Override
    public String toString() {
        return "LrSchedule{" + kind.key() + ", base=" + base + ", warmupSteps=" + warmupSteps + ", decayRate=" + decayRate
            + ", decaySteps=" + decaySteps + ", minLr=" + minLr + ", totalSteps=" + totalSteps + "}";
    }
}
