package io.lockstep.driver.spark;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.worker.checkpoint.CheckpointStore;
import io.lockstep.worker.listener.CheckpointListener.RunIdentity;
import io.lockstep.worker.optim.ServerPlan;
import io.lockstep.worker.train.Every;
import io.lockstep.worker.train.TrainerOptions;

import io.lockstep.worker.train.TrainingListener;

import java.io.Serializable;
import java.util.List;

/**
 * What every training task of one attempt receives, fixed by the driver before the stage starts.
 *
 * @param modelJson   the network's DL4J JSON (either kind)
 * @param task        classification, binary or regression (chooses the validation metrics)
 * @param outputs     width of the label vector
 * @param batchSize   per worker and micro-batch
 * @param shuffle     reshuffle each worker's partition every epoch
 * @param seed        the job seed (shuffles, dropout)
 * @param validation  how often to validate; null when there is no validation set
 * @param bestMetric  the validation metric that picks the best model; null for none
 * @param patience    early stopping after this many validations without improvement; 0 = off
 * @param checkpoints where rank 0 writes checkpoints; null for none
 * @param listeners   the user's own listeners (Java API), serializable: they run inside every replica
 * @param serverPlan  with the optimizer on the server: what it applies, how its state maps to DL4J's; else null
 * @param localReduction workers sharing a JVM reduce their gradients there first ({@code ps.local_reduction})
 * @param shardsOnExecutors the shards run next to the workers ({@code ps.shard_placement}): the tasks start them and
 *                    exchange their endpoints when the stage starts ({@link ExecutorShards})
 * @param logEvery    steps between metrics.jsonl step lines: the replicas ship their step timeline for each
 */
public record RunPlan(
    String modelJson,
    String task,
    int outputs,
    int features,
    int batchSize,
    boolean shuffle,
    long seed,
    TrainerOptions options,
    ExchangeSpec exchange,
    Every validation,
    String bestMetric,
    boolean higherIsBetter,
    double minDelta,
    int patience,
    CheckpointStore checkpoints,
    Every checkpointEvery,
    RunIdentity identity,
    List<TrainingListener> listeners,
    ServerPlan serverPlan,
    boolean localReduction,
    boolean shardsOnExecutors,
    int logEvery
) implements Serializable {

    /** The same plan for another attempt of the stage: a fresh exchange (new job id, its first step). */
    public RunPlan withExchange(ExchangeSpec next) {
        return new RunPlan(modelJson, task, outputs, features, batchSize, shuffle, seed, options, next, validation,
            bestMetric, higherIsBetter, minDelta, patience, checkpoints, checkpointEvery, identity, listeners,
            serverPlan, localReduction, shardsOnExecutors, logEvery);
    }
}
