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
    private final String json; // the validated config's keys: what travels when this object is serialized
    private transient JobConfig config;

    private TrainingConfig(JobConfig validated) {
        this.json = ConfigLoader.toTree(validated).toString();
        this.config = validated;
    }

    public static Builder builder() {
        return new Builder(JobConfig.defaults().with("data.format", DataFormat.PARQUET));
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

    /** The configuration as the job reads it (immutable, like this object). */
    public JobConfig toJobConfig() {
        if (config == null) { // deserialized: bound once from its keys
            try {
                ObjectNode tree = (ObjectNode) new com.fasterxml.jackson.databind.ObjectMapper().readTree(json);
                config = ConfigLoader.bind(tree, List.of(), "TrainingConfig", false);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
        }
        return config;
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
            c = ConfigLoader.with(c, List.of(keyValue), "TrainingConfig");
            return this;
        }

        public Builder task(Task task) { c = c.with("task", task); return this; }
        /** Workers (Spark tasks of the barrier stage), each training a replica on its share of the rows. */
        public Builder workers(int workers) { c = c.with("workers", workers); return this; }
        /** Samples per worker per step; the global batch is batch size x workers. */
        public Builder batchSize(int batchSize) { c = c.with("batch_size", batchSize); return this; }
        public Builder epochs(int epochs) { c = c.with("epochs", epochs); return this; }
        public Builder seed(long seed) { c = c.with("seed", seed); return this; }
        public Builder shuffle(boolean shuffle) { c = c.with("shuffle", shuffle); return this; }
        public Builder logEvery(int steps) { c = c.with("log_every", steps); return this; }
        /** Micro-batches per optimizer step (gradient accumulation). */
        public Builder accumulateSteps(int steps) { c = c.with("accumulate_steps", steps); return this; }
        /** cross_entropy, binary_cross_entropy, mse or mae; default: the task's usual loss. */
        public Builder loss(String loss) { c = c.with("loss", loss); return this; }
        public Builder onNonFinite(OnNonFinite action) { c = c.with("on_non_finite", action); return this; }
        /** Where model.zip, metrics.jsonl and summary.json go. */
        public Builder outputDir(String dir) { c = c.with("output.dir", dir); return this; }
        /** {@code latest} (the newest checkpoint in the checkpoint directory) or a checkpoint's path. */
        public Builder resume(String from) { c = c.with("resume", from); return this; }

        /** Hidden layer widths of the built-in models. */
        public Builder hidden(int... widths) { c = c.with("model.hidden", Arrays.stream(widths).boxed().toList()); return this; }
        public Builder activation(String activation) { c = c.with("model.activation", activation); return this; }
        public Builder dropout(double p) { c = c.with("model.dropout", p); return this; }

        /** The optimizer, its rate schedule and scaling: {@code OptimizerSpec.adam(1e-3)}, {@code OptimizerSpec.builder(SGD, 0.1).momentum(0.9)}. */
        public Builder optimizer(OptimizerSpec.Builder optimizer) { return optimizer(optimizer.build()); }

        public Builder optimizer(OptimizerSpec o) {
            JobConfig.Optimizer was = c.optimizer();
            ScheduleSpec s = o.schedule();
            boolean decays = s.kind() != ScheduleSpec.Kind.CONSTANT; // a constant rate has no decay: the defaults stay
            JobConfig.Schedule schedule = new JobConfig.Schedule(s.kind(), Math.toIntExact(s.warmupSteps()),
                decays ? s.decayRate() : was.schedule().decayRate(),
                decays ? Math.toIntExact(s.decaySteps()) : was.schedule().decaySteps(), s.minLr());
            c = c.with("optimizer", new JobConfig.Optimizer(o.type(), o.lr(), o.momentum(), o.nesterov(), o.beta1(),
                o.beta2(), o.epsilon(), o.rmsDecay(), o.weightDecay(), o.l1(), o.l2(), o.lrScaling(), schedule,
                was.stepPlacement()));
            return this;
        }

        /** Who applies the optimizer step: the parameter server's shards, every replica, or auto. */
        public Builder stepPlacement(StepPlacement placement) { c = c.with("optimizer.step_placement", placement); return this; }
        public Builder clipping(ClippingSpec clipping) {
            c = c.with("clipping.mode", clipping.mode())
                .with("clipping.threshold", clipping.threshold());
            return this;
        }

        /** One column holding all features (an ML Vector or an array of numbers). */
        public Builder featuresColumn(String column) { c = c.with("data.features_column", column); return this; }
        /** Numeric feature columns; default: every numeric column except the label. */
        public Builder featureColumns(String... columns) { c = c.with("data.feature_columns", List.of(columns)); return this; }
        public Builder labelColumn(String column) { c = c.with("data.label_column", JobConfig.Data.Column.name(column)); return this; }
        /** none, standardize (z-score per feature, fitted on the training rows) or minmax. */
        public Builder normalize(Normalize normalization) { c = c.with("data.normalize", normalization); return this; }
        /** Number of classes (classification); default: largest training label + 1. */
        public Builder classes(int classes) { c = c.with("data.classes", classes); return this; }
        /** Hold out this share of the training rows (chosen by seed) as the validation split. */
        public Builder validationFraction(double fraction) { c = c.with("data.validation_fraction", fraction); return this; }

        public Builder validationEvery(Every every) { c = c.with("validation.every", every); return this; }
        /** Checkpoints into {@code dir} (any Hadoop path) every {@code every}, the newest {@code keep} kept. */
        public Builder checkpoints(String dir, Every every, int keep) {
            c = c.with("checkpoint.dir", dir)
                .with("checkpoint.every", every)
                .with("checkpoint.keep", keep);
            return this;
        }
        /** Keep (and publish) the best model by this validation metric. */
        public Builder bestMetric(String metric) { c = c.with("checkpoint.best", metric); return this; }
        public Builder earlyStopping(String metric, int patience) { return earlyStopping(metric, patience, 0); }
        public Builder earlyStopping(String metric, int patience, double minDelta) {
            c = c.with("early_stopping.metric", metric)
                .with("early_stopping.patience", patience)
                .with("early_stopping.min_delta", minDelta);
            return this;
        }
        public Builder maxAttempts(int attempts) { c = c.with("recovery.max_attempts", attempts); return this; }

        public Builder shards(int shards) { c = c.with("ps.shards", shards); return this; }
        public Builder transport(Transport transport) { c = c.with("ps.transport", transport); return this; }
        /** Where the parameter-server shards run: the driver, the executors, or auto. */
        public Builder shardPlacement(ShardPlacement placement) { c = c.with("ps.shard_placement", placement); return this; }
        /** How gradients travel: fp32, or 16 bits with error feedback. */
        public Builder wire(WireFormat wire) { c = c.with("ps.wire", wire); return this; }
        public Builder localReduction(boolean on) { c = c.with("ps.local_reduction", on); return this; }
        public Builder mtu(int mtu) { c = c.with("ps.mtu", mtu); return this; }
        public Builder termLength(int bytes) { c = c.with("ps.term_length", bytes); return this; }

        /** {@code ps.aeron_dir}: the media drivers' files on disk instead of /dev/shm. */
        public Builder aeronDir(String dir) { c = c.with("ps.aeron_dir", dir); return this; }
        public Builder timeoutSeconds(int seconds) { c = c.with("ps.timeout_seconds", seconds); return this; }
        public Builder host(String host) { c = c.with("ps.host", host); return this; }
        /** A Spark setting for the job, e.g. {@code spark.executor.memory}. */
        public Builder sparkConf(String key, String value) { c = c.with("spark.conf." + key, value); return this; }

        /** The configuration, checked by every rule (as a YAML file is); the builder may go on. */
        public TrainingConfig build() {
            return new TrainingConfig(ConfigLoader.checked(c, false));
        }
    }
}
