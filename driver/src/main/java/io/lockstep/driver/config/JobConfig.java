package io.lockstep.driver.config;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A training job as written in YAML (snake_case keys). Every field has a default so a config
 * names only what it changes; unknown keys are rejected by {@link ConfigLoader}.
 */
public final class JobConfig {
    /** classification (class indices 0..k-1, one-hot), binary (labels 0/1, one output) or regression (real targets). */
    public String task = "classification";
    public Data data = new Data();
    public Model model = new Model();
    public Optimizer optimizer = new Optimizer();
    /** cross_entropy (softmax output) or mse (identity output). */
    public String loss = "cross_entropy";
    /** Samples per worker per step; the global batch is batch_size x workers. */
    public int batchSize = 64;
    public int epochs = 1;
    public int workers = 2;
    public long seed = 42;
    public boolean shuffle = true;
    /** Write a metrics.jsonl step line (and log progress) every this many steps. */
    public int logEvery = 50;
    public Ps ps = new Ps();
    public Spark spark = new Spark();
    public Output output = new Output();

    public static final class Data {
        /** idx (MNIST-style image + label files), csv (numeric columns), parquet or libsvm. */
        public String format = "idx";
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
        public String normalize = "none";

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
        /** mlp (built in) or json (a DL4J MultiLayerConfiguration JSON file at path). */
        public String type = "mlp";
        public List<Integer> hidden = List.of(256, 128);
        public String activation = "relu";
        public String path;
    }

    public static final class Optimizer {
        /** sgd, adam or rmsprop. */
        public String type = "adam";
        public double lr = 1e-3;
    }

    public static final class Ps {
        public int shards = 2;
        /** udp (default, also across machines) or ipc (shared memory, workers in the server's JVM only). */
        public String transport = "udp";
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
