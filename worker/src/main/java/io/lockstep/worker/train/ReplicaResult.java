package io.lockstep.worker.train;

import java.io.Serializable;

/**
 * What a replica hands back: where it ran ({@code pid@host}); a digest of its final parameters (all
 * replicas must agree); from rank 0 only, the final parameters and the best ones by the validation
 * metric; its final train state and why it stopped early, if it did; a {@code failure} when training
 * could not go on (every replica reports the same non-finite step, so the stage ends normally and
 * the driver names it); where its time went; and, with the shards on the executors, the frames the shards
 * this rank ran refused.
 */
public record ReplicaResult(
    int rank,
    String where,
    long paramDigest,
    float[] params,
    float[] bestParams,
    TrainState state,
    String stopReason,
    String failure,
    long samples,
    double trainSeconds,
    StepTimes times,
    long droppedFrames
) implements Serializable {

    /** This result with the frames the shards this rank ran refused. */
    public ReplicaResult withDroppedFrames(long dropped) {
        return new ReplicaResult(rank, where, paramDigest, params, bestParams, state, stopReason, failure, samples,
            trainSeconds, times, dropped);
    }

    /** This process, as {@code pid@host}: which JVM, on which machine, a replica ran in. */
    public static String here() {
        String host;
        try {
            host = java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.net.UnknownHostException e) {
            host = "unknown-host";
        }
        return ProcessHandle.current().pid() + "@" + host;
    }

    /** Order-sensitive digest of the exact float bits: equal digests mean bit-identical replicas. */
    public static long digest(float[] values) {
        long h = 1125899906842597L;
        for (float v : values) {
            h = 31 * h + Float.floatToRawIntBits(v);
        }
        return h;
    }
}
