package io.lockstep.worker.train;

import java.io.Serializable;

/**
 * What every replica must agree on: the network (DL4J JSON), the per-worker batch size, the
 * schedule of epochs and steps, and the shuffle seed. Shipped unchanged to every Spark task.
 */
public record TrainingSpec(
    String modelJson,
    int batchSize,
    int epochs,
    int stepsPerEpoch,
    long seed,
    boolean shuffle
) implements Serializable {

    public TrainingSpec {
        if (batchSize < 1) throw new IllegalArgumentException("batch_size must be >= 1, got " + batchSize);
        if (epochs < 1) throw new IllegalArgumentException("epochs must be >= 1, got " + epochs);
        if (stepsPerEpoch < 1) throw new IllegalArgumentException("steps per epoch must be >= 1, got " + stepsPerEpoch);
    }

    /** Steps every worker runs per epoch: enough for the largest shard, so none is cut short. */
    public static int stepsPerEpoch(long largestShard, int batchSize) {
        return (int) ((largestShard + batchSize - 1) / batchSize);
    }

    public long totalSteps() {
        return (long) epochs * stepsPerEpoch;
    }
}
