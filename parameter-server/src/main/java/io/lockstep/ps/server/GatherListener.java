package io.lockstep.ps.server;

/**
 * Told by the parameter server each time an all-gather round has gone out to every worker, with
 * every rank's blob (e.g. for the driver to log validation metrics as they happen). Runs on the
 * agent thread of shard 0, which also averages gradients: implementations must hand off, never
 * block. The arrays are the listener's to keep; the server never touches them again.
 */
@FunctionalInterface
public interface GatherListener {
    void onGathered(long round, byte[][] blobsByRank);

    GatherListener NONE = (round, blobs) -> { };
}
