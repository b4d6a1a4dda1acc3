package io.lockstep.worker.train;

import io.lockstep.worker.optim.ClippingSpec;

import java.io.Serializable;

/**
 * How a replica steps, identical on every replica.
 *
 * @param epochs          epochs to train
 * @param stepsPerEpoch   optimizer steps per epoch (the same for every worker)
 * @param accumulateSteps micro-batches per optimizer step (gradient accumulation)
 * @param clipping        clipping of the averaged gradient
 * @param skipNonFinite   {@code on_non_finite: skip}: drop a step whose averaged gradient is NaN/Inf
 *                        instead of failing the job
 */
public record TrainerOptions(int epochs, int stepsPerEpoch, int accumulateSteps, ClippingSpec clipping,
                             boolean skipNonFinite) implements Serializable {

    public TrainerOptions {
        if (epochs < 1) throw new IllegalArgumentException("epochs must be >= 1, got " + epochs);
        if (stepsPerEpoch < 1) throw new IllegalArgumentException("steps per epoch must be >= 1, got " + stepsPerEpoch);
        if (accumulateSteps < 1) {
            throw new IllegalArgumentException("accumulate_steps must be >= 1, got " + accumulateSteps);
        }
        if (clipping == null) {
            clipping = ClippingSpec.NONE;
        }
    }

    public long totalSteps() {
        return (long) epochs * stepsPerEpoch;
    }

    /** Micro-batches a worker draws per epoch. */
    public int batchesPerEpoch() {
        return stepsPerEpoch * accumulateSteps;
    }

    /** Optimizer steps per epoch for a data partition of {@code largestPartition} rows. */
    public static int stepsPerEpoch(long largestPartition, int batchSize, int accumulateSteps) {
        long batches = (largestPartition + batchSize - 1) / batchSize;
        return Math.toIntExact(Math.max(1, (batches + accumulateSteps - 1) / accumulateSteps));
    }
}
