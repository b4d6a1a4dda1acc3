package io.lockstep.api;

import io.lockstep.driver.config.Normalize;
import io.lockstep.driver.config.DataFormat;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.config.OnNonFinite;
import io.lockstep.driver.config.ShardPlacement;
import io.lockstep.driver.config.StepPlacement;
import io.lockstep.driver.config.Transport;
import io.lockstep.driver.config.Task;
import io.lockstep.ps.wire.WireFormat;
import io.lockstep.worker.optim.ClippingSpec;
import io.lockstep.worker.optim.OptimizerSpec;
import io.lockstep.worker.optim.ScheduleSpec;
import io.lockstep.worker.train.Every;

import java.io.Serializable;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * An immutable, validated training configuration for the Java API, built with typed setters (DJL's
 * {@code DefaultTrainingConfig} style) and checked once, by the same rules as a job YAML, when built:
 *
 * <pre>{@code
 * TrainingConfig config = TrainingConfig.builder()
 *     .task(Task.CLASSIFICATION).workers(2).epochs(5).hidden(64, 32)
 *     .optimizer(OptimizerSpec.adam(0.01))
 *     .labelColumn("label").earlyStopping("loss", 3)
 *     .build();
 * }</pre>
 *
 * A job YAML is another way to fill it ({@link #fromYaml}), and {@link Builder#set(String)} takes any key
 * as {@code --set key=value} does. Unset keys keep the YAML defaults (see the README's config reference);
 * {@code data.format} defaults to parquet, as datasets are read by column.
 */
public final class TrainingConfig implements Serializable {
    private final String json; // the validated config's keys; every accessor reads a fresh copy

    private TrainingConfig(JobConfig validated) {
        this.json = ConfigLoader.toTree(validated).toString();
    }

    public static Builder builder() {
        JobConfig c = new JobConfig();
        c.data.format = DataFormat.PARQUET;
        return new Builder(c);
    }

    /** A job YAML (its data.* file keys are not needed when the data comes as datasets), then {@code key=value} overrides. */
    public static TrainingConfig fromYaml(Path file, String... overrides) {
        ObjectNode tree = ConfigLoader.readTree(file);
        if (!tree.has("data") || !tree.get("data").has("format")) {
            tree.with("data").put("format", "parquet");
        }
        return new Builder(ConfigLoader.read(tree, List.of(overrides), file.toString())).build();
    }

    /** A builder starting from this configuration. */
    public Builder toBuilder() {
        return new Builder(toJobConfig());
    }

    /** The configuration as the job reads it: a fresh mutable copy on every call (this object never changes). */
    public JobConfig toJobConfig() {
        try {
            ObjectNode tree = (ObjectNode) new com.fasterxml.jackson.databind.ObjectMapper().readTree(json);
            return ConfigLoader.bind(tree, List.of(), "TrainingConfig", false);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public String toString() {
        return json;
    }

    /** Typed setters for the common keys, {@link #set(String)} for any other; {@link #build()} checks them all. */
    public static final class Builder {
        private JobConfig c;

        private Builder(JobConfig c) {
            this.c = c;
        }

        /** Any config key as {@code --set} takes it: {@code "model.init_from=base.zip"}, {@code "ps.mtu=9000"}. */
        public Builder set(String keyValue) {
            ObjectNode tree = ConfigLoader.toTree(c);
            ConfigLoader.apply(tree, keyValue);
            c = ConfigLoader.read(tree, List.of(), "TrainingConfig");
            return this;
        }

        public Builder task(Task task) { c.task = task; return this; }
        /** Workers (Spark tasks of the barrier stage), each training a replica on its share of the rows. */
        public Builder workers(int workers) { c.workers = workers; return this; }
        /** Samples per worker per step; the global batch is batch size x workers. */
        public Builder batchSize(int batchSize) { c.batchSize = batchSize; return this; }
        public Builder epochs(int epochs) { c.epochs = epochs; return this; }
        public Builder seed(long seed) { c.seed = seed; return this; }
        public Builder shuffle(boolean shuffle) { c.shuffle = shuffle; return this; }
        public Builder logEvery(int steps) { c.logEvery = steps; return this; }
        /** Micro-batches per optimizer step (gradient accumulation). */
        public Builder accumulateSteps(int steps) { c.accumulateSteps = steps; return this; }
        /** cross_entropy, binary_cross_entropy, mse or mae; default: the task's usual loss. */
        public Builder loss(String loss) { c.loss = loss; return this; }
        public Builder onNonFinite(OnNonFinite action) { c.onNonFinite = action; return this; }
        /** Where model.zip, metrics.jsonl and summary.json go. */
        public Builder outputDir(String dir) { c.output.dir = dir; return this; }
        /** {@code latest} (the newest checkpoint in the checkpoint directory) or a checkpoint's path. */
        public Builder resume(String from) { c.resume = from; return this; }

        /** Hidden layer widths of the built-in models. */
        public Builder hidden(int... widths) { c.model.hidden = Arrays.stream(widths).boxed().toList(); return this; }
        public Builder activation(String activation) { c.model.activation = activation; return this; }
        public Builder dropout(double p) { c.model.dropout = p; return this; }

        /** The optimizer, its rate schedule and scaling: {@code OptimizerSpec.adam(1e-3)}, {@code OptimizerSpec.builder(SGD, 0.1).momentum(0.9)}. */
        public Builder optimizer(OptimizerSpec.Builder optimizer) { return optimizer(optimizer.build()); }

        public Builder optimizer(OptimizerSpec o) {
            JobConfig.Optimizer to = c.optimizer;
            to.type = o.type();
            to.lr = o.lr();
            to.momentum = o.momentum();
            to.nesterov = o.nesterov();
            to.beta1 = o.beta1();
            to.beta2 = o.beta2();
            to.epsilon = o.epsilon();
            to.rmsDecay = o.rmsDecay();
            to.weightDecay = o.weightDecay();
            to.l1 = o.l1();
            to.l2 = o.l2();
            to.lrScaling = o.lrScaling();
            ScheduleSpec s = o.schedule();
            to.schedule.kind = s.kind();
            to.schedule.warmupSteps = Math.toIntExact(s.warmupSteps());
            to.schedule.minLr = s.minLr();
            if (s.kind() != ScheduleSpec.Kind.CONSTANT) { // a constant rate has no decay: the config's defaults stay
                to.schedule.decayRate = s.decayRate();
                to.schedule.decaySteps = Math.toIntExact(s.decaySteps());
            }
            return this;
        }

        /** Who applies the optimizer step: the parameter server's shards, every replica, or auto. */
        public Builder stepPlacement(StepPlacement placement) { c.optimizer.stepPlacement = placement; return this; }
        public Builder clipping(ClippingSpec clipping) {
            c.clipping.mode = clipping.mode();
            c.clipping.threshold = clipping.threshold();
            return this;
        }

        /** One column holding all features (an ML Vector or an array of numbers). */
        public Builder featuresColumn(String column) { c.data.featuresColumn = column; return this; }
        /** Numeric feature columns; default: every numeric column except the label. */
        public Builder featureColumns(String... columns) { c.data.featureColumns = List.of(columns); return this; }
        public Builder labelColumn(String column) { c.data.labelColumn = JobConfig.Data.Column.name(column); return this; }
        /** none, standardize (z-score per feature, fitted on the training rows) or minmax. */
        public Builder normalize(Normalize normalization) { c.data.normalize = normalization; return this; }
        /** Number of classes (classification); default: largest training label + 1. */
        public Builder classes(int classes) { c.data.classes = classes; return this; }
        /** Hold out this share of the training rows (chosen by seed) as the validation split. */
        public Builder validationFraction(double fraction) { c.data.validationFraction = fraction; return this; }

        public Builder validationEvery(Every every) { c.validation.every = every; return this; }
        /** Checkpoints into {@code dir} (any Hadoop path) every {@code every}, the newest {@code keep} kept. */
        public Builder checkpoints(String dir, Every every, int keep) {
            c.checkpoint.dir = dir;
            c.checkpoint.every = every;
            c.checkpoint.keep = keep;
            return this;
        }
        /** Keep (and publish) the best model by this validation metric. */
        public Builder bestMetric(String metric) { c.checkpoint.best = metric; return this; }
        public Builder earlyStopping(String metric, int patience) { return earlyStopping(metric, patience, 0); }
        public Builder earlyStopping(String metric, int patience, double minDelta) {
            c.earlyStopping.metric = metric;
            c.earlyStopping.patience = patience;
            c.earlyStopping.minDelta = minDelta;
            return this;
        }
        public Builder maxAttempts(int attempts) { c.recovery.maxAttempts = attempts; return this; }

        public Builder shards(int shards) { c.ps.shards = shards; return this; }
        public Builder transport(Transport transport) { c.ps.transport = transport; return this; }
        /** Where the parameter-server shards run: the driver, the executors, or auto. */
        public Builder shardPlacement(ShardPlacement placement) { c.ps.shardPlacement = placement; return this; }
        /** How gradients travel: fp32, or 16 bits with error feedback. */
        public Builder wire(WireFormat wire) { c.ps.wire = wire; return this; }
        public Builder localReduction(boolean on) { c.ps.localReduction = on; return this; }
        public Builder mtu(int mtu) { c.ps.mtu = mtu; return this; }
        public Builder termLength(int bytes) { c.ps.termLength = bytes; return this; }
        public Builder timeoutSeconds(int seconds) { c.ps.timeoutSeconds = seconds; return this; }
        public Builder host(String host) { c.ps.host = host; return this; }
        /** A Spark setting for the job, e.g. {@code spark.executor.memory}. */
        public Builder sparkConf(String key, String value) { c.spark.conf.put(key, value); return this; }

        /** The configuration, checked by every rule (as a YAML file is); the builder may go on. */
        public TrainingConfig build() {
            return new TrainingConfig(ConfigLoader.snapshot(c, false));
        }
    }
}
