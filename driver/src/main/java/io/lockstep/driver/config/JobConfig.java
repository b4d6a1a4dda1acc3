package io.lockstep.driver.config;

import io.lockstep.ps.media.PortRange;
import io.lockstep.ps.wire.WireFormat;
import io.lockstep.worker.model.Loss;
import io.lockstep.worker.model.ModelType;
import io.lockstep.worker.optim.ClippingSpec;
import io.lockstep.worker.optim.OptimizerSpec;
import io.lockstep.worker.optim.ScheduleSpec;
import io.lockstep.worker.train.Every;

import org.nd4j.linalg.activations.Activation;

import java.util.List;
import java.util.Map;

/**
 * A training job, typed and immutable: YAML (snake_case keys), {@code --set key=value} and the Java API's
 * {@code TrainingConfig} builder all fill it through {@link ConfigLoader}, which lays the keys given over every
 * key's default ({@code defaults.yaml} next to this class) and binds them; {@link ConfigRules#validate} checks
 * it once. Choices are enums parsed where the text is read (a bad name fails there, naming its key); unknown
 * keys are rejected. A changed copy comes from {@link #with(String, Object)}, by the same binding.
 *
 * @param task            classification (class indices 0..k-1, one-hot), binary (labels 0/1, one output) or
 *                        regression (real targets)
 * @param loss            cross_entropy, binary_cross_entropy, mse or mae; null: the task's usual loss
 * @param batchSize       samples per worker per step; the global batch is batch_size x workers
 * @param logEvery        write a metrics.jsonl step line (and log progress) every this many steps
 * @param accumulateSteps micro-batches per optimizer step (gradient accumulation)
 * @param resume          latest (the newest valid checkpoint in checkpoint.dir) or the path of a checkpoint
 *                        file; null: a fresh start
 * @param onNonFinite     fail: stop the job at a NaN/Inf loss or gradient; skip: drop such a step and count it
 */
public record JobConfig(
    Task task,
    Data data,
    Model model,
    Optimizer optimizer,
    Loss loss,
    int batchSize,
    int epochs,
    int workers,
    long seed,
    boolean shuffle,
    int logEvery,
    int accumulateSteps,
    Clipping clipping,
    Validation validation,
    Checkpoint checkpoint,
    ResumeFrom resume,
    EarlyStopping earlyStopping,
    OnNonFinite onNonFinite,
    Recovery recovery,
    Ps ps,
    Spark spark,
    Output output) {

    /** Every key at its default (data.train and data.test unset). */
    public static JobConfig defaults() {
        return ConfigLoader.defaults();
    }

    /**
     * A copy with one key changed: {@code with("data.classes", 10)}, {@code with("ps.wire", WireFormat.BF16)},
     * {@code with("spark.conf.spark.executor.memory", "4g")}. The value is bound as the same key in a YAML file
     * would be (a wrong type fails, naming the key); the cross-key rules run when a job starts.
     */
    public JobConfig with(String key, Object value) {
        return ConfigLoader.with(this, key, value);
    }

    /** A copy with {@code key=value} overrides applied as {@code --set} applies them. */
    public JobConfig with(String... overrides) {
        return ConfigLoader.with(this, List.of(overrides));
    }

    /**
     * @param format            idx (MNIST-style image + label files), csv (numeric columns), parquet or libsvm
     * @param train             the training split (any Hadoop file system path)
     * @param validation        the validation split, same format as train; or set validationFraction instead
     * @param validationFraction 0 < f < 1: hold out this share of the training rows (chosen by seed) as the
     *                          validation split
     * @param trainLabels       IDX label files; default: the images path with images-idx3 replaced by labels-idx1
     * @param download          mnist: fetch the MNIST IDX files into the configured paths when they are missing
     * @param labelColumn       CSV: an index, negative counts from the end (default -1 = last), or a name from the
     *                          header line; Parquet / datasets: a column name (default "label")
     * @param header            CSV: the first line is a header (skipped; it names the columns)
     * @param featuresColumn    Parquet / datasets: one column holding all features (an ML Vector or an array)
     * @param featureColumns    Parquet / datasets: numeric feature columns; default: every numeric column but the label
     * @param features          LibSVM: number of features; default: the largest feature index in the files read
     * @param classes           number of classes (classification); default: largest training label + 1
     * @param normalize         none, standardize (z-score per feature, fitted on the training split) or minmax
     */
    public record Data(
        DataFormat format,
        String train,
        String test,
        String validation,
        Double validationFraction,
        String trainLabels,
        String testLabels,
        String validationLabels,
        Download download,
        Column labelColumn,
        boolean header,
        String featuresColumn,
        List<String> featureColumns,
        Integer features,
        Integer classes,
        Normalize normalize) {

        public Data {
            featureColumns = featureColumns == null ? null : List.copyOf(featureColumns);
        }

        /** A copy with one data key changed ({@code with("normalize", Normalize.MINMAX)}), bound as in YAML. */
        public Data with(String key, Object value) {
            return ConfigLoader.with(this, "data." + key, value);
        }

        /** A column named by its index (CSV) or by its name; YAML: an integer or a string. */
        public static final class Column implements java.io.Serializable {
            private final Integer index;
            private final String name;

            private Column(Integer index, String name) {
                this.index = index;
                this.name = name;
            }

            public static Column index(int index) {
                return new Column(index, null);
            }

            public static Column name(String name) {
                return new Column(null, name);
            }

            @com.fasterxml.jackson.annotation.JsonCreator(mode = com.fasterxml.jackson.annotation.JsonCreator.Mode.DELEGATING)
            public static Column of(Object value) {
                if (value instanceof Integer i) {
                    return index(i);
                }
                if (value instanceof String s && !s.isBlank()) {
                    return name(s);
                }
                throw new IllegalArgumentException("expected a column index (integer) or a column name, got '"
                    + value + "'");
            }

            public boolean isIndex() {
                return index != null;
            }

            public int index() {
                return index;
            }

            public String name() {
                return name;
            }

            @com.fasterxml.jackson.annotation.JsonValue
            public Object value() {
                return index != null ? index : name;
            }

            @Override
            public String toString() {
                return String.valueOf(value());
            }
        }
    }

    /**
     * @param type          mlp or lenet (built in), json (a DL4J JSON file at path) or factory (a ModelFactory class)
     * @param dropout       probability of dropping a hidden unit while training (built-in models); 0 = off
     * @param factory       fully qualified class name of a ModelFactory (type: factory)
     * @param initFrom      a Lockstep or DL4J model zip to start from (fine-tuning)
     * @param freezeLayers  with init_from: the first k layers keep their parameters
     * @param replaceOutput with init_from: a fresh output layer for this job's outputs
     * @param inputShape    [height, width, channels] of images given as flat rows (lenet); default: square, 1 channel
     */
    public record Model(
        ModelType type,
        List<Integer> hidden,
        Activation activation,
        double dropout,
        String path,
        String factory,
        String initFrom,
        int freezeLayers,
        boolean replaceOutput,
        List<Integer> inputShape) {

        public Model {
            hidden = hidden == null ? null : List.copyOf(hidden);
            inputShape = inputShape == null ? null : List.copyOf(inputShape);
        }
    }

    /**
     * @param type          sgd, adam, adamw or rmsprop
     * @param momentum      sgd: momentum (0 = plain SGD); with nesterov: Nesterov momentum
     * @param rmsDecay      rmsprop: decay of the squared-gradient average
     * @param weightDecay   decoupled weight decay (adamw's, or for any optimizer)
     * @param lrScaling     none or linear: the base rate times the number of workers
     * @param stepPlacement server: the parameter server's shards apply the step once, to their slices, and send
     *                      back parameters; replicas: every worker applies DL4J's updater to the averaged gradient;
     *                      auto: server when it can mirror the model's updater, else replicas
     */
    public record Optimizer(
        OptimizerSpec.Type type,
        double lr,
        double momentum,
        boolean nesterov,
        Double beta1,
        Double beta2,
        Double epsilon,
        Double rmsDecay,
        double weightDecay,
        double l1,
        double l2,
        OptimizerSpec.LrScaling lrScaling,
        Schedule schedule,
        StepPlacement stepPlacement) {
    }

    /** @param kind constant, step, exponential or cosine, by global step; linear warmup before any of them */
    public record Schedule(ScheduleSpec.Kind kind, int warmupSteps, double decayRate, int decaySteps, double minLr) {
    }

    /** @param mode none, norm (global L2 norm of the averaged gradient) or value */
    public record Clipping(ClippingSpec.Mode mode, double threshold) {
    }

    /** @param every how often: N (epochs), "N epochs" or "N steps" */
    public record Validation(Every every) {
    }

    /**
     * @param dir   any Hadoop file system path (local, hdfs://, s3a://); null: no checkpoints
     * @param every N (epochs), "N epochs" or "N steps"
     * @param keep  newest checkpoints kept
     * @param best  a validation metric: keep the best model by it (and publish it as model.zip)
     * @param mode  min or max; null: what the metric means (loss lower, accuracy higher)
     */
    public record Checkpoint(String dir, Every every, int keep, String best, MetricMode mode) {
    }

    /**
     * @param metric a validation metric to watch; null: no early stopping
     * @param mode   min or max; null: what the metric means
     */
    public record EarlyStopping(String metric, int patience, double minDelta, MetricMode mode) {
    }

    /** @param maxAttempts attempts of the training stage before a job with retryable failures gives up */
    public record Recovery(int maxAttempts) {
    }

    /**
     * @param transport      auto (ipc when the workers run in the driver's JVM, i.e. embedded Spark, else udp),
     *                       udp (also across machines) or ipc (shared memory, workers in the server's JVM only)
     * @param localReduction workers sharing a JVM combine their gradients there first; one contribution per JVM
     *                       crosses the wire
     * @param shardPlacement where the shards run: driver (threads of the driver's JVM), executors (next to the
     *                       workers, one shard per worker at least), or auto (executors when the workers exchange
     *                       over UDP outside the driver's JVM, else driver)
     * @param wire           fp32, bf16 or fp16: how gradients (and, with the optimizer on the workers, averages)
     *                       travel; 16-bit halves the bytes, the rounding carried into the next step
     * @param host           the driver's address its endpoints bind and announce, for when it is not the one Spark
     *                       knows; null (default): 127.0.0.1 on an embedded master, else spark.driver.host
     *                       (driver.spark.DriverAddress)
     * @param mtu            the exchange's frame size: auto (one IP packet on the link of the driver's
     *                       endpoint address) or a multiple of 32 in [1024, 65504]
     * @param ports          the UDP ports the exchange listens on, on the driver and on every executor: auto (the
     *                       IANA dynamic ports outside the kernel's ephemeral range, io.lockstep.ps.media.PortRange)
     *                       or first-last, for a firewall or a container's port list
     * @param termLength     the Aeron terms: auto (each kind of stream sized to what it carries at once,
     *                       io.lockstep.ps.ExchangeRules#autoTerms) or, for every stream, a power of two in
     *                       [65536, 1073741824], at least 8 x the frame size
     * @param aeronDir       where the media drivers put their files (a directory on disk, for a small /dev/shm);
     *                       null (default): /dev/shm
     * @param timeoutSeconds longest wait for any one step or connection before the job fails naming who it waited for
     */
    public record Ps(
        int shards,
        Transport transport,
        boolean localReduction,
        ShardPlacement shardPlacement,
        WireFormat wire,
        String host,
        int timeoutSeconds,
        TermLength termLength,
        Mtu mtu,
        PortRange ports,
        String aeronDir) {
    }

    /**
     * @param master Spark master; null: local[workers] unless spark-submit already set one
     * @param conf   extra Spark settings, e.g. spark.executor.memory
     */
    public record Spark(String master, Map<String, String> conf) {
        public Spark {
            conf = conf == null ? Map.of() : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(conf));
        }
    }

    /** @param dir where model.zip, metrics.jsonl and summary.json go */
    public record Output(String dir) {
    }
}
