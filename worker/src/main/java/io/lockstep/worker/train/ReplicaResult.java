package io.lockstep.worker.train;

import java.io.Serializable;

/**
 * What a replica hands back: a digest of its final parameters (all replicas must agree), the
 * parameters themselves from rank 0 only, and where its training time went.
 */
public record ReplicaResult(
    int rank,
    long paramDigest,
    float[] params,
    long steps,
    long samples,
    double trainSeconds,
    StepTimes times
) implements Serializable {
}
