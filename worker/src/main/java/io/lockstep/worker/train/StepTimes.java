package io.lockstep.worker.train;

import java.io.Serializable;

/** Seconds one replica spent waiting for data, computing gradients, exchanging them and applying the step. */
public record StepTimes(double data, double compute, double exchange, double apply) implements Serializable {
}
