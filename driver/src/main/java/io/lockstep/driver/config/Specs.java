package io.lockstep.driver.config;

import io.lockstep.worker.model.ModelSpec;
import io.lockstep.worker.optim.ClippingSpec;
import io.lockstep.worker.optim.OptimizerSpec;
import io.lockstep.worker.optim.ScheduleSpec;
import io.lockstep.worker.train.Every;

/**
 * From the YAML shape of a job to the typed, validated values the trainer takes. Each spec checks
 * its own values once and names the config key in its errors, which surface here as config errors.
 */
public final class Specs {
    private Specs() {
    }

    public static OptimizerSpec optimizer(JobConfig.Optimizer o) {
        return wrap(() -> {
            OptimizerSpec.Builder b = OptimizerSpec.builder(OptimizerSpec.Type.parse(o.type), o.lr)
                .momentum(o.momentum).nesterov(o.nesterov).weightDecay(o.weightDecay).l1(o.l1).l2(o.l2)
                .lrScaling(OptimizerSpec.LrScaling.parse(o.lrScaling)).schedule(schedule(o.schedule));
            if (o.beta1 != null) b.beta1(o.beta1);
            if (o.beta2 != null) b.beta2(o.beta2);
            if (o.epsilon != null) b.epsilon(o.epsilon);
            if (o.rmsDecay != null) b.rmsDecay(o.rmsDecay);
            return b.build();
        });
    }

    public static ModelSpec model(JobConfig.Model m) {
        return wrap(() -> new ModelSpec(m.type, m.hidden, m.activation, m.dropout, m.path, m.factory, m.initFrom,
            m.freezeLayers, m.replaceOutput, m.inputShape));
    }

    static ScheduleSpec schedule(JobConfig.Schedule s) {
        return new ScheduleSpec(ScheduleSpec.Kind.parse(s.kind), s.warmupSteps, s.decayRate, s.decaySteps, s.minLr);
    }

    public static ClippingSpec clipping(JobConfig.Clipping c) {
        return wrap(() -> new ClippingSpec(ClippingSpec.Mode.parse(c.mode), c.threshold));
    }

    /** {@code N}, {@code N epochs} or {@code N steps} under config key {@code key}. */
    public static Every every(String key, String text) {
        Every every = text == null ? null : Every.parse(text);
        if (every == null) {
            throw new ConfigLoader.ConfigException("config key '" + key + "' must be N, 'N epochs' or 'N steps', got '"
                + text + "'");
        }
        return every;
    }

    private static <T> T wrap(java.util.function.Supplier<T> build) {
        try {
            return build.get();
        } catch (ConfigLoader.ConfigException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw new ConfigLoader.ConfigException(e.getMessage());
        }
    }
}
