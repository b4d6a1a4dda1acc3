package io.lockstep.driver.spark;

import io.lockstep.worker.optim.StepSite;
import io.lockstep.worker.train.TrainState;

import java.io.Serializable;

/**
 * Where every replica starts: fresh parameters at step 0, or a checkpoint's parameters, optimizer
 * state and train state (and the best parameters so far, when a best model is being kept).
 */
public record StartPoint(float[] params, float[] updaterState, TrainState state, float[] bestParams)
    implements Serializable {

    /** The optimizer state in the server's slot-major layout (null: a fresh optimizer, or the replicas step). */
    public float[] serverState(StepSite site) {
        return !site.isServer() || updaterState == null || updaterState.length == 0 ? null
            : site.plan().toServerState(updaterState);
    }

    public static StartPoint fresh(float[] params, long seed) {
        return new StartPoint(params, null, new TrainState(seed), null);
    }
}
