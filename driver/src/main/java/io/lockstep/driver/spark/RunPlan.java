package io.lockstep.driver.spark;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.worker.checkpoint.CheckpointStore;
import io.lockstep.worker.listener.CheckpointListener.RunIdentity;
import io.lockstep.worker.optim.StepSite;
import io.lockstep.worker.train.Every;
import io.lockstep.worker.train.TrainerOptions;
import io.lockstep.worker.train.TrainingListener;

import java.io.Serializable;
import java.util.List;

/**
 * What every training task of one attempt receives, fixed by the driver before the stage starts; built with
 * {@link #builder()}, each value by its name.
 *
 * @param modelJson         the network's DL4J JSON (either kind)
 * @param task              classification, binary or regression (chooses the validation metrics)
 * @param outputs           width of the label vector
 * @param features          width of a feature row
 * @param batchSize         per worker and micro-batch
 * @param shuffle           reshuffle each worker's partition every epoch
 * @param seed              the job seed (shuffles, dropout)
 * @param options           epochs, steps per epoch, accumulation, clipping, the non-finite rule
 * @param exchange          the exchange of this attempt (its job id, shards, first step)
 * @param validation        how often to validate; null when there is no validation set
 * @param bestMetric        the validation metric that picks the best model; null for none
 * @param higherIsBetter    a larger bestMetric is better
 * @param minDelta          the least change of bestMetric that counts as an improvement
 * @param patience          early stopping after this many validations without improvement; 0 = off
 * @param checkpoints       where rank 0 writes checkpoints; null for none
 * @param checkpointEvery   how often rank 0 writes one
 * @param identity          what a checkpoint must match to resume this run
 * @param listeners         the user's own listeners (Java API), serializable: they run inside every replica
 * @param stepSite          where the optimizer steps; on the server, what it applies and how its state maps to DL4J's
 * @param localReduction    workers sharing a JVM reduce their gradients there first ({@code ps.local_reduction})
 * @param shardsOnExecutors the shards run next to the workers ({@code ps.shard_placement}): the tasks start them
 *                    and exchange their endpoints when the stage starts ({@link ExecutorShards})
 * @param logEvery          steps between metrics.jsonl step lines: the replicas ship their step timeline for each
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
    StepSite stepSite,
    boolean localReduction,
    boolean shardsOnExecutors,
    int logEvery
) implements Serializable {

    public static Builder builder() {
        return new Builder();
    }

    /** The same plan for another attempt of the stage: a fresh exchange (new job id, its first step). */
    public RunPlan withExchange(ExchangeSpec next) {
        return new Builder(this).exchange(next).build();
    }

    /** The plan's values by name; unset ones stay null, 0 or false (no validation, no checkpoints, ...). */
    public static final class Builder {
        private String modelJson;
        private String task;
        private int outputs;
        private int features;
        private int batchSize;
        private boolean shuffle;
        private long seed;
        private TrainerOptions options;
        private ExchangeSpec exchange;
        private Every validation;
        private String bestMetric;
        private boolean higherIsBetter;
        private double minDelta;
        private int patience;
        private CheckpointStore checkpoints;
        private Every checkpointEvery;
        private RunIdentity identity;
        private List<TrainingListener> listeners = List.of();
        private StepSite stepSite = StepSite.replicas();
        private boolean localReduction;
        private boolean shardsOnExecutors;
        private int logEvery;

        private Builder() {
        }

        private Builder(RunPlan p) {
            modelJson = p.modelJson;
            task = p.task;
            outputs = p.outputs;
            features = p.features;
            batchSize = p.batchSize;
            shuffle = p.shuffle;
            seed = p.seed;
            options = p.options;
            exchange = p.exchange;
            validation = p.validation;
            bestMetric = p.bestMetric;
            higherIsBetter = p.higherIsBetter;
            minDelta = p.minDelta;
            patience = p.patience;
            checkpoints = p.checkpoints;
            checkpointEvery = p.checkpointEvery;
            identity = p.identity;
            listeners = p.listeners;
            stepSite = p.stepSite;
            localReduction = p.localReduction;
            shardsOnExecutors = p.shardsOnExecutors;
            logEvery = p.logEvery;
        }

        public Builder modelJson(String v) { modelJson = v; return this; }
        public Builder task(String v) { task = v; return this; }
        public Builder outputs(int v) { outputs = v; return this; }
        public Builder features(int v) { features = v; return this; }
        public Builder batchSize(int v) { batchSize = v; return this; }
        public Builder shuffle(boolean v) { shuffle = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder options(TrainerOptions v) { options = v; return this; }
        public Builder exchange(ExchangeSpec v) { exchange = v; return this; }
        public Builder validation(Every v) { validation = v; return this; }
        public Builder bestMetric(String v) { bestMetric = v; return this; }
        public Builder higherIsBetter(boolean v) { higherIsBetter = v; return this; }
        public Builder minDelta(double v) { minDelta = v; return this; }
        public Builder patience(int v) { patience = v; return this; }
        public Builder checkpoints(CheckpointStore v) { checkpoints = v; return this; }
        public Builder checkpointEvery(Every v) { checkpointEvery = v; return this; }
        public Builder identity(RunIdentity v) { identity = v; return this; }
        public Builder listeners(List<TrainingListener> v) { listeners = List.copyOf(v); return this; }
        public Builder stepSite(StepSite v) { stepSite = v; return this; }
        public Builder localReduction(boolean v) { localReduction = v; return this; }
        public Builder shardsOnExecutors(boolean v) { shardsOnExecutors = v; return this; }
        public Builder logEvery(int v) { logEvery = v; return this; }

        public RunPlan build() {
            return new RunPlan(modelJson, task, outputs, features, batchSize, shuffle, seed, options, exchange,
                validation, bestMetric, higherIsBetter, minDelta, patience, checkpoints, checkpointEvery, identity,
                listeners, stepSite, localReduction, shardsOnExecutors, logEvery);
        }
    }
}
