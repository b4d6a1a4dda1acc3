package io.lockstep.ps.server;

/**
 * Told by shard 0 each time a step's average has gone out to every worker. Runs on the
 * shard's agent thread: implementations must hand off, never block.
 */
@FunctionalInterface
public interface StepListener {
    void onStep(long step, long samples, float meanLoss, long nanoTime);

    StepListener NONE = (step, samples, loss, t) -> { };
}
