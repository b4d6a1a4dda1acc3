package io.lockstep.driver.config;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A training job as written in YAML (snake_case keys). Every field has a default so a config
 * names only what it changes; unknown keys are rejected by {@link ConfigLoader}.
 */
public final class JobConfig {
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
        /** idx (MNIST-style image + label files) or csv (numeric columns, one of them the label). */
        public String format = "idx";
        public String train;
        public String test;
        /** IDX label files; default: the images path with images-idx3 replaced by labels-idx1. */
        public String trainLabels;
        public String testLabels;
        /** mnist: fetch the MNIST IDX files into the configured paths when they are missing. */
        public String download;
        /** CSV: index of the label column, negative counts from the end (-1 = last). */
        public int labelColumn = -1;
        /** CSV: skip the first line. */
        public boolean header = false;
        /** Number of classes; default: largest training label + 1. */
        public Integer classes;
        /** none, standardize (z-score per feature, fitted on the training split) or minmax. */
        public String normalize = "none";
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
