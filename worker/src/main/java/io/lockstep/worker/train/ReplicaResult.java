package io.lockstep.worker.train;

import io.lockstep.worker.exchange.WireDrops;

import java.io.Serializable;

/**
 * What a replica hands back: where it ran ({@code pid@host}) and on which device ({@code gpu 1}, {@code cpu});
 * a digest of its final parameters (all
 * replicas must agree); from rank 0 only, the final parameters and the best ones by the validation
 * metric; its final train state and why it stopped early, if it did; a {@code failure} when training
 * could not go on (every replica reports the same non-finite step, so the stage ends normally and
 * the driver names it); where its time went; and the frames refused where it ran: by its own client and,
 * with the shards on the executors, by the shards this rank ran.
 */
public record ReplicaResult(
    int rank,
    String where,
    String device,
    long paramDigest,
    float[] params,
    float[] bestParams,
    TrainState state,
    String stopReason,
    String failure,
    long samples,
    double trainSeconds,
    StepTimes times,
    WireDrops drops
) implements Serializable {

    /** This result with the frames refused where it ran. */
    public ReplicaResult withDrops(WireDrops drops) {
        return new ReplicaResult(rank, where, device, paramDigest, params, bestParams, state, stopReason, failure, samples,
            trainSeconds, times, drops);
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
