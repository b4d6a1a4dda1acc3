package io.lockstep.worker.train;

import java.io.Serializable;

/**
 * Where training stands, all a resumed run needs besides parameters and optimizer state: the
 * global step, the epoch and the position in it, and the bookkeeping of the best validation
 * result. Randomness is derived from the job seed and the step (shuffles from seed, epoch and
 * rank; dropout from seed, step and rank), so the seed is the whole RNG state.
 */
public final class TrainState implements Serializable {
    private final long seed;
    private long step;
    private int epoch;
    private int stepInEpoch;
    private long skippedSteps;
    /** Best value of the watched validation metric so far (NaN before the first validation). */
    private double bestValue = Double.NaN;
    private long bestStep = -1;
    private int bestEpoch = -1;
    /** Validations since the best one (early stopping's patience counter). */
    private int sinceBest;

    public TrainState(long seed) {
        this.seed = seed;
    }

    /** A copy, e.g. to write into a checkpoint while training goes on. */
    public TrainState copy() {
        TrainState c = new TrainState(seed);
        c.restore(this);
        return c;
    }

    /** Takes over every field of {@code other} (a resumed state). */
    public void restore(TrainState other) {
        step = other.step;
        epoch = other.epoch;
        stepInEpoch = other.stepInEpoch;
        skippedSteps = other.skippedSteps;
        bestValue = other.bestValue;
        bestStep = other.bestStep;
        bestEpoch = other.bestEpoch;
        sinceBest = other.sinceBest;
    }

    /** One optimizer step done; rolls over into the next epoch after its last step. */
    void advance(int stepsPerEpoch, boolean skipped) {
        step++;
        if (skipped) {
            skippedSteps++;
        }
        if (++stepInEpoch == stepsPerEpoch) {
            stepInEpoch = 0;
            epoch++;
        }
    }

    /** Records a validation result; returns true if it is the best so far by {@code minDelta}. */
    public boolean offer(double value, boolean higherIsBetter, double minDelta) {
        boolean better = Double.isFinite(value) && (Double.isNaN(bestValue)
            || (higherIsBetter ? value > bestValue + minDelta : value < bestValue - minDelta));
        if (better) {
            bestValue = value;
            bestStep = step;
            bestEpoch = stepInEpoch == 0 ? epoch : epoch + 1;
            sinceBest = 0;
        } else {
            sinceBest++;
        }
        return better;
    }

    public long seed() { return seed; }
    /** Optimizer steps completed (the next step's number). */
    public long step() { return step; }
    /** The epoch training is in (0-based); after the last step of epoch e this is e + 1. */
    public int epoch() { return epoch; }
    /** Optimizer steps already done in {@link #epoch()}. */
    public int stepInEpoch() { return stepInEpoch; }
    public long skippedSteps() { return skippedSteps; }
    public double bestValue() { return bestValue; }
    public long bestStep() { return bestStep; }
    /** The epoch (1-based) in which the best value was measured; -1 before any. */
    public int bestEpoch() { return bestEpoch; }
    public int sinceBest() { return sinceBest; }

    /** Starts at a given position (resume). */
    public TrainState at(long step, int epoch, int stepInEpoch) {
        this.step = step;
        this.epoch = epoch;
        this.stepInEpoch = stepInEpoch;
        return this;
    }

    @Override
    public String toString() {
        return "step " + step + " (epoch " + (epoch + 1) + ", step " + stepInEpoch + " of the epoch)";
    }
}
