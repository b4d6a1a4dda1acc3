package io.lockstep.worker.data;

import java.io.Serializable;

/**
 * One training example as it travels through Spark: its position in the source data (which
 * fixes the shard it lands on and its order there), the features and the label vector
 * (one-hot for classification).
 */
public record Sample(long index, float[] features, float[] labels) implements Serializable {
}
