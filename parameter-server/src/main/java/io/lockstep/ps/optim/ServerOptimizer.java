package io.lockstep.ps.optim;

import java.io.Serial;
import java.io.Serializable;
import java.util.Objects;

/**
 * {@code optimizer.step_placement: server}: the rule every shard applies and the role of every parameter.
 * Travels in the {@code ExchangeSpec}, so workers know to expect parameters rather than averages.
 */
public record ServerOptimizer(UpdateRule rule, ParamRoles roles) implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    public ServerOptimizer {
        Objects.requireNonNull(rule, "rule");
        Objects.requireNonNull(roles, "roles");
    }

    /** Floats of the whole optimizer state, slot-major: {@code stateSlots * parameters}. */
    public long stateLength() {
        return (long) rule.stateSlots() * roles.length();
    }
}
