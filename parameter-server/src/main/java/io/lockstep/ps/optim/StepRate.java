package io.lockstep.ps.optim;

import java.io.Serializable;

/** The learning rate at a global step (0-based), as the worker's schedule gives it. Must be pure. */
@FunctionalInterface
public interface StepRate extends Serializable {
    double rate(long step);
}
