package io.lockstep.worker.data;

import org.nd4j.linalg.api.ndarray.INDArray;

/** A minibatch ready for DL4J; {@code size == 0} marks a step this worker sits out (shard exhausted). */
public record Batch(INDArray features, INDArray labels, int size) {
    public static final Batch EMPTY = new Batch(null, null, 0);
}
