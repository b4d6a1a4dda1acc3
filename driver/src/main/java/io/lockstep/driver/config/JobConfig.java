package io.lockstep.driver.config;

import io.lockstep.ps.wire.WireFormat;
import io.lockstep.worker.optim.ClippingSpec;
import io.lockstep.worker.optim.OptimizerSpec;
import io.lockstep.worker.optim.ScheduleSpec;
import io.lockstep.worker.train.Every;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A training job, typed: YAML (snake_case keys), {@code --set key=value} and the Java API's
 * {@code TrainingConfig} builder all fill it, and {@link ConfigRules#validate} checks it once. Choices are
 * enums parsed where the text is read (a bad name fails there, naming its key); every field has a default so a
 * config names only what it changes; unknown keys are rejected by {@link ConfigLoader}.
 */
public final class JobConfig {
    /** classification (class indices 0..k-1, one-hot), binary (labels 0/1, one output) or regression (real targets). */
    public Task task = Task.CLASSIFICATION;
    public Data data = new Data();
    public Model model = new Model();
    public Optimizer optimizer = new Optimizer();
    /** cross_entropy, binary_cross_entropy, mse or mae; default: the task's usual loss. */
    public String loss;
    /** Samples per worker per step; the global batch is batch_size x workers. */
    public int batchSize = 64;
    public int epochs = 1;
    public int workers = 2;
    public long seed = 42;
    public boolean shuffle = true;
    /** Write a metrics.jsonl step line (and log progress) every this many steps. */
    public int logEvery = 50;
    /** Micro-batches per optimizer step (gradient accumulation). */
    public int accumulateSteps = 1;
    public Clipping clipping = new Clipping();
    public Validation validation = new Validation();
    public Checkpoint checkpoint = new Checkpoint();
    /** latest (the newest valid checkpoint in checkpoint.dir) or the path of a checkpoint file; null: a fresh start. */
    public String resume;
    public EarlyStopping earlyStopping = new EarlyStopping();
    /** fail (default): stop the job at a NaN/Inf loss or gradient; skip: drop such a step and count it. */
    public OnNonFinite onNonFinite = OnNonFinite.FAIL;
    public Recovery recovery = new Recovery();
    public Ps ps = new Ps();
    public Spark spark = new Spark();
    public Output output = new Output();

    public static final class Data {
        /** idx (MNIST-style image + label files), csv (numeric columns), parquet or libsvm. */
        public DataFormat format = DataFormat.IDX;
        public String train;
        public String test;
        /** Validation split, same format as train; or set validationFraction instead. */
        public String validation;
        /** 0 < f < 1: hold out this share of the training rows (chosen by seed) as the validation split. */
        public Double validationFraction;
        /** IDX label files; default: the images path with images-idx3 replaced by labels-idx1. */
        public String trainLabels;
        public String testLabels;
        public String validationLabels;
        /** mnist: fetch the MNIST IDX files into the configured paths when they are missing. */
        public String download;
        /**
         * The label column. CSV: an index, negative counts from the end (default -1 = last), or a
         * name from the header line. Parquet / datasets: a column name (default "label").
         */
        public Column labelColumn;
        /** CSV: the first line is a header (skipped; it names the columns). */
        public boolean header = false;
        /** Parquet / datasets: one column holding all features (an ML Vector or an array of numbers). */
        public String featuresColumn;
        /** Parquet / datasets: numeric feature columns; default: every numeric column except the label. */
        public List<String> featureColumns;
        /** LibSVM: number of features; default: the largest feature index in the files read. */
        public Integer features;
        /** Number of classes (task classification); default: largest training label + 1. */
        public Integer classes;
        /** none, standardize (z-score per feature, fitted on the training split) or minmax. */
        public Normalize normalize = Normalize.NONE;

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

    public static final class Model {
        /** mlp or lenet (built in), json (a DL4J JSON file at path) or factory (a ModelFactory class). */
        public String type = "mlp";
        public List<Integer> hidden = List.of(256, 128);
        public String activation = "relu";
        /** Probability of dropping a hidden unit while training (built-in models); 0 = off. */
        public double dropout = 0;
        public String path;
        /** Fully qualified class name of a ModelFactory (type: factory). */
        public String factory;
        /** A Lockstep or DL4J model zip to start from (fine-tuning). */
        public String initFrom;
        /** With init_from: the first k layers keep their parameters. */
        public int freezeLayers = 0;
        /** With init_from: a fresh output layer for this job's outputs. */
        public boolean replaceOutput = false;
        /** [height, width, channels] of images given as flat rows (lenet); default: square, 1 channel. */
        public List<Integer> inputShape;
    }

    public static final class Optimizer {
        /** sgd, adam, adamw or rmsprop. */
        public OptimizerSpec.Type type = OptimizerSpec.Type.ADAM;
        public double lr = 1e-3;
        /** sgd: momentum (0 = plain SGD); with nesterov: Nesterov momentum. */
        public double momentum = 0;
        public boolean nesterov = false;
        public Double beta1;
        public Double beta2;
        public Double epsilon;
        /** rmsprop: decay of the squared-gradient average. */
        public Double rmsDecay;
        /** Decoupled weight decay (adamw's, or for any optimizer). */
        public double weightDecay = 0;
        public double l1 = 0;
        public double l2 = 0;
        /** none or linear: the base rate times the number of workers. */
        public OptimizerSpec.LrScaling lrScaling = OptimizerSpec.LrScaling.NONE;
        public Schedule schedule = new Schedule();
        /**
         * server: the parameter server's shards apply the step once, to their slices, and send back parameters;
         * replica: every worker applies DL4J's updater to the averaged gradient; auto (unset): server when it can
         * mirror the model's updater, else replica.
         */
        public StepPlacement stepPlacement = StepPlacement.AUTO;
    }

    public static final class Schedule {
        /** constant, step, exponential or cosine, by global step; linear warmup before any of them. */
        public ScheduleSpec.Kind kind = ScheduleSpec.Kind.CONSTANT;
        public int warmupSteps = 0;
        public double decayRate = 0.1;
        public int decaySteps = 1000;
        public double minLr = 0;
    }

    public static final class Clipping {
        /** none, norm (global L2 norm of the averaged gradient) or value. */
        public ClippingSpec.Mode mode = ClippingSpec.Mode.NONE;
        public double threshold = 1.0;
    }

    public static final class Validation {
        /** How often: N (epochs), "N epochs" or "N steps". */
        public Every every = new Every(1, Every.Unit.EPOCHS);
    }

    public static final class Checkpoint {
        /** Any Hadoop file system path (local, hdfs://, s3a://); null: no checkpoints. */
        public String dir;
        /** N (epochs), "N epochs" or "N steps". */
        public Every every = new Every(1, Every.Unit.EPOCHS);
        /** Newest checkpoints kept. */
        public int keep = 3;
        /** A validation metric: keep the best model by it (and publish it as model.zip). */
        public String best;
        /** min or max; default (null): what the metric means (loss lower, accuracy higher). */
        public MetricMode mode;
    }

    public static final class EarlyStopping {
        /** A validation metric to watch; null: no early stopping. */
        public String metric;
        public int patience = 3;
        public double minDelta = 0;
        /** min or max; default (null): what the metric means. */
        public MetricMode mode;
    }

    public static final class Recovery {
        /** Attempts of the training stage before a job with retryable failures (lost executor, stall) gives up. */
        public int maxAttempts = 3;
    }

    public static final class Ps {
        public int shards = 2;
        /**
         * auto (default: ipc when the workers run in the driver's JVM, i.e. embedded Spark, else udp), udp (also
         * across machines) or ipc (shared memory, workers in the server's JVM only).
         */
        public Transport transport = Transport.AUTO;
        /** Workers sharing a JVM combine their gradients there first; one contribution per JVM crosses the wire. */
        public boolean localReduction = true;
        /**
         * Where the shards run: driver (threads of the driver's JVM), executors (next to the workers, one shard
         * per worker at least, so no machine takes every worker's gradient), or auto (default: executors when the
         * workers exchange over UDP outside the driver's JVM, else driver).
         */
        public ShardPlacement shardPlacement = ShardPlacement.AUTO;
        /**
         * fp32 (default), bf16 or fp16: how gradients (and, with the optimizer on the workers, averages) travel;
         * 16-bit halves the bytes, with the rounding carried into the next step (error feedback).
         */
        public WireFormat wire = WireFormat.FP32;
        /** Address the parameter server binds and workers send to. */
        public String host = "127.0.0.1";
        /** Longest wait for any one step or connection before the job fails naming who it waited for. */
        public int timeoutSeconds = 120;
        public int termLength = 8 * 1024 * 1024;
        public int mtu = 65504;
    }

    public static final class Spark {
        /** Spark master; default local[workers] unless spark-submit already set one. */
        public String master;
        /** Extra Spark settings, e.g. spark.executor.memory. */
        public Map<String, String> conf = new LinkedHashMap<>();
    }

    public static final class Output {
        public String dir = "runs/latest";
    }
}
