package io.lockstep.worker.train;

import java.io.Serializable;

/**
 * What a replica hands back: a digest of its final parameters (all replicas must agree); from
 * rank 0 only, the final parameters and the best ones by the validation metric; where training
 * stopped and why (or, with {@code failure} set, why training could not go on: every replica reports
 * the same non-finite step, so the stage ends normally and the driver names it); and where its time went.
 */
public record ReplicaResult(
    int rank,
    long paramDigest,
    float[] params,
    float[] bestParams,
    TrainState state,
    String stopReason,
    String failure,
    long samples,
    double trainSeconds,
    StepTimes times
) implements Serializable {

    /** Order-sensitive digest of the exact float bits: equal digests mean bit-identical replicas. */
    public static long digest(float[] values) {
        long h = 1125899906842597L;
        for (float v : values) {
            h = 31 * h + Float.floatToRawIntBits(v);
        }
        return h;
    }
}
