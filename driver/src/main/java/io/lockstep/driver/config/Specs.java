package io.lockstep.driver.config;

import io.lockstep.worker.model.ModelSpec;
import io.lockstep.worker.optim.ClippingSpec;
import io.lockstep.worker.optim.OptimizerSpec;
import io.lockstep.worker.optim.ScheduleSpec;

/**
 * From a job's config sections to the worker's specs, the values the trainer takes. Each spec states its
 * rules once and names the config key in its errors, which surface here as config errors.
 */
public final class Specs {
    private Specs() {
    }

    public static OptimizerSpec optimizer(JobConfig.Optimizer o) {
        return wrap(() -> {
            OptimizerSpec.Builder b = OptimizerSpec.builder(o.type(), o.lr())
                .momentum(o.momentum()).nesterov(o.nesterov()).weightDecay(o.weightDecay()).l1(o.l1()).l2(o.l2())
                .lrScaling(o.lrScaling()).schedule(schedule(o.schedule()));
            if (o.beta1() != null) b.beta1(o.beta1());
            if (o.beta2() != null) b.beta2(o.beta2());
            if (o.epsilon() != null) b.epsilon(o.epsilon());
            if (o.rmsDecay() != null) b.rmsDecay(o.rmsDecay());
            return b.build();
        });
    }

    public static ModelSpec model(JobConfig.Model m) {
        return wrap(() -> new ModelSpec(m.type(), m.hidden(), m.activation(), m.dropout(), m.path(), m.factory(), m.initFrom(),
            m.freezeLayers(), m.replaceOutput(), m.inputShape()));
    }

    static ScheduleSpec schedule(JobConfig.Schedule s) {
        return new ScheduleSpec(s.kind(), s.warmupSteps(), s.decayRate(), s.decaySteps(), s.minLr());
    }

    public static ClippingSpec clipping(JobConfig.Clipping c) {
        return wrap(() -> new ClippingSpec(c.mode(), c.threshold()));
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
