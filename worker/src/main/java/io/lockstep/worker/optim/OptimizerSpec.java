package io.lockstep.worker.optim;

import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.RmsProp;

import java.io.Serial;
import java.io.Serializable;
import java.util.Objects;

/**
 * The {@code optimizer:} section of a job config, validated: what {@link Optimizers} turns into a DL4J
 * updater plus regularization, and {@link LrSchedule#of} into the learning rate by global step.
 *
 * <p>Three kinds of weight penalty, deliberately distinct:
 * <ul>
 *   <li>{@code l1}, {@code l2}: coupled. DL4J adds {@code l1 * sign(w)} / {@code l2 * w} to the
 *       gradient BEFORE the updater, so with Adam or RMSprop the penalty is rescaled per parameter
 *       (DL4J {@code L1Regularization} / {@code L2Regularization}, {@code ApplyStep.BEFORE_UPDATER}).</li>
 *   <li>{@code weightDecay}: decoupled. DL4J {@code WeightDecay(coeff, applyLR = true)} adds
 *       {@code lr(t) * coeff * w} to the update AFTER the updater ({@code ApplyStep.POST_UPDATER}), i.e.
 *       {@code w -= updater(g) + lr(t) * coeff * w}: AdamW (Loshchilov &amp; Hutter) in PyTorch's form,
 *       for any type. With plain SGD it equals {@code l2}; with momentum it is SGDW, not PyTorch's
 *       coupled {@code SGD(weight_decay=...)} (use {@code l2} for that).</li>
 * </ul>
 * DL4J keeps only one of L2 and WeightDecay on a builder, so both &gt; 0 is rejected. {@code adam} with
 * weight decay would be AdamW under another name, so it is rejected in favour of {@code adamw}.
 * All three penalties apply to weights only, not biases (DL4J's builder-level {@code l1/l2/weightDecay}).
 *
 * @param type        {@code optimizer.type}
 * @param lr          {@code optimizer.lr}, base learning rate &gt; 0, per worker before {@code lrScaling}
 * @param momentum    {@code optimizer.momentum}, sgd only, in [0, 1); 0 = plain SGD
 * @param nesterov    {@code optimizer.nesterov}, sgd only, needs momentum &gt; 0
 * @param beta1       {@code optimizer.beta1}, adam/adamw, in [0, 1) (DL4J default 0.9)
 * @param beta2       {@code optimizer.beta2}, adam/adamw, in [0, 1) (DL4J default 0.999)
 * @param epsilon     {@code optimizer.epsilon}, adam/adamw/rmsprop, &gt; 0 (DL4J default 1e-8 for both)
 * @param rmsDecay    {@code optimizer.rms_decay}, rmsprop, in [0, 1) (DL4J default 0.95)
 * @param weightDecay {@code optimizer.weight_decay}, decoupled, &gt;= 0
 * @param l1          {@code optimizer.l1}, coupled, &gt;= 0
 * @param l2          {@code optimizer.l2}, coupled, &gt;= 0
 * @param lrScaling   {@code optimizer.lr_scaling}: base rate = lr (none) or lr × workers (linear)
 * @param schedule    {@code optimizer.schedule}
 */
public record OptimizerSpec(Type type, double lr, double momentum, boolean nesterov, double beta1, double beta2,
                            double epsilon, double rmsDecay, double weightDecay, double l1, double l2,
                            LrScaling lrScaling, ScheduleSpec schedule) implements Serializable {

    @Serial
    private static final long serialVersionUID = 1L;

    /** PyTorch's AdamW default, used when {@code optimizer.type} is adamw and no weight decay is given. */
    public static final double DEFAULT_ADAMW_WEIGHT_DECAY = 0.01;

    public enum Type {
        SGD, ADAM, ADAMW, RMSPROP;

        /** Parses the YAML value of {@code optimizer.type} (case-insensitive). */
        public static Type parse(String name) {
            return ConfigNames.parse(Type.class, "optimizer.type", name);
        }

        public String key() {
            return ConfigNames.key(this);
        }
    }

    /**
     * How the base rate grows with the number of workers. {@code LINEAR}: base = lr × workers, the
     * linear scaling rule for an N-times larger global batch (Goyal et al. 2017, "Accurate, Large
     * Minibatch SGD"), usually paired with a warmup.
     */
    public enum LrScaling {
        NONE, LINEAR;

        /** Parses the YAML value of {@code optimizer.lr_scaling} (case-insensitive). */
        public static LrScaling parse(String name) {
            return ConfigNames.parse(LrScaling.class, "optimizer.lr_scaling", name);
        }

        public double factor(int workers) {
            if (workers < 1) {
                throw new IllegalArgumentException("workers must be >= 1, got " + workers);
            }
            return this == LINEAR ? workers : 1;
        }
    }

    public OptimizerSpec {
        if (type == null) {
            throw new IllegalArgumentException("optimizer.type is required (sgd, adam, adamw, rmsprop)");
        }
        if (!(lr > 0) || Double.isInfinite(lr)) {
            throw new IllegalArgumentException("optimizer.lr must be > 0, got " + Num.str(lr));
        }
        if (!(momentum >= 0 && momentum < 1)) {
            throw new IllegalArgumentException("optimizer.momentum must be in [0, 1), got " + Num.str(momentum));
        }
        if (momentum > 0 && type != Type.SGD) {
            throw new IllegalArgumentException("optimizer.momentum applies to optimizer.type sgd only, got type "
                + type.key() + (type == Type.ADAM || type == Type.ADAMW ? " (its momentum is optimizer.beta1)" : ""));
        }
        if (nesterov && type != Type.SGD) {
            throw new IllegalArgumentException("optimizer.nesterov applies to optimizer.type sgd only, got type " + type.key());
        }
        if (nesterov && !(momentum > 0)) {
            throw new IllegalArgumentException("optimizer.nesterov needs optimizer.momentum > 0");
        }
        unitInterval("optimizer.beta1", beta1);
        unitInterval("optimizer.beta2", beta2);
        unitInterval("optimizer.rms_decay", rmsDecay);
        if (!(epsilon > 0) || Double.isInfinite(epsilon)) {
            throw new IllegalArgumentException("optimizer.epsilon must be > 0, got " + Num.str(epsilon));
        }
        nonNegative("optimizer.weight_decay", weightDecay);
        nonNegative("optimizer.l1", l1);
        nonNegative("optimizer.l2", l2);
        if (weightDecay > 0 && type == Type.ADAM) {
            throw new IllegalArgumentException("optimizer.weight_decay with optimizer.type adam is AdamW: "
                + "set optimizer.type: adamw (or use optimizer.l2 for an L2 term added to the gradient)");
        }
        if (weightDecay > 0 && l2 > 0) {
            throw new IllegalArgumentException("optimizer.l2 and optimizer.weight_decay cannot both be > 0 "
                + "(DL4J keeps only one): weight_decay is decoupled, l2 goes through the gradient");
        }
        if (lrScaling == null) {
            throw new IllegalArgumentException("optimizer.lr_scaling is required (none, linear)");
        }
        if (schedule == null) {
            throw new IllegalArgumentException("optimizer.schedule is required (ScheduleSpec.CONSTANT for none)");
        }
        if (schedule.minLr() > lr) {
            throw new IllegalArgumentException("optimizer.schedule.min_lr (" + Num.str(schedule.minLr())
                + ") must be <= optimizer.lr (" + Num.str(lr) + ")");
        }
    }

    private static void unitInterval(String key, double v) {
        if (!(v >= 0 && v < 1)) {
            throw new IllegalArgumentException(key + " must be in [0, 1), got " + Num.str(v));
        }
    }

    private static void nonNegative(String key, double v) {
        if (!(v >= 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException(key + " must be >= 0, got " + Num.str(v));
        }
    }

    /** A builder holding DL4J's defaults for {@code type}; {@link Builder#build()} validates. */
    public static Builder builder(Type type, double lr) {
        return new Builder(type, lr);
    }

    public static OptimizerSpec sgd(double lr) {
        return builder(Type.SGD, lr).build();
    }

    public static OptimizerSpec adam(double lr) {
        return builder(Type.ADAM, lr).build();
    }

    /** Mutable, unvalidated staging for a config parser; defaults are DL4J's (and PyTorch's 0.01 AdamW decay). */
    public static final class Builder {
        private final Type type;
        private final double lr;
        private double momentum = 0;
        private boolean nesterov = false;
        private double beta1 = Adam.DEFAULT_ADAM_BETA1_MEAN_DECAY;
        private double beta2 = Adam.DEFAULT_ADAM_BETA2_VAR_DECAY;
        private double epsilon;
        private double rmsDecay = RmsProp.DEFAULT_RMSPROP_RMSDECAY;
        private double weightDecay;
        private double l1 = 0;
        private double l2 = 0;
        private LrScaling lrScaling = LrScaling.NONE;
        private ScheduleSpec schedule = ScheduleSpec.CONSTANT;

        private Builder(Type type, double lr) {
            this.type = Objects.requireNonNull(type, "optimizer.type is required");
            this.lr = lr;
            this.epsilon = type == Type.RMSPROP ? RmsProp.DEFAULT_RMSPROP_EPSILON : Adam.DEFAULT_ADAM_EPSILON;
            this.weightDecay = type == Type.ADAMW ? DEFAULT_ADAMW_WEIGHT_DECAY : 0;
        }

        public Builder momentum(double v) { momentum = v; return this; }
        public Builder nesterov(boolean v) { nesterov = v; return this; }
        public Builder beta1(double v) { beta1 = v; return this; }
        public Builder beta2(double v) { beta2 = v; return this; }
        public Builder epsilon(double v) { epsilon = v; return this; }
        public Builder rmsDecay(double v) { rmsDecay = v; return this; }
        public Builder weightDecay(double v) { weightDecay = v; return this; }
        public Builder l1(double v) { l1 = v; return this; }
        public Builder l2(double v) { l2 = v; return this; }
        public Builder lrScaling(LrScaling v) { lrScaling = v; return this; }
        public Builder schedule(ScheduleSpec v) { schedule = v; return this; }

        public OptimizerSpec build() {
            return new OptimizerSpec(type, lr, momentum, nesterov, beta1, beta2, epsilon, rmsDecay, weightDecay,
                l1, l2, lrScaling, schedule);
        }
    }
}
