package io.lockstep.driver.job;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.DataLoader;
import io.lockstep.driver.data.MnistFetcher;
import io.lockstep.driver.output.MetricsLog;
import io.lockstep.driver.output.RunOutputs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.lockstep.ps.EmbeddedAeron;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ParameterServer;
import io.lockstep.ps.ShardLayout;
import io.lockstep.worker.model.Models;
import io.lockstep.worker.train.ReplicaResult;
import io.lockstep.worker.data.Sample;
import io.lockstep.worker.train.TrainingSpec;
import org.apache.spark.HashPartitioner;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.evaluation.EvaluationAveraging;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;
import scala.reflect.ClassTag$;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One training run, start to finish: read and shard the data with Spark, start the parameter
 * server, run one barrier stage of N replicas, check they ended identical, evaluate on the test
 * split and write model.zip, metrics.jsonl and summary.json.
 */
public final class TrainingJob {
    private static final Logger LOG = LoggerFactory.getLogger("lockstep");
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private TrainingJob() {
    }

    /** Runs the job and returns the summary that was written to summary.json. */
    public static Map<String, Object> run(JobConfig cfg) throws IOException {
        long wallStart = System.nanoTime();
        SparkConf conf = sparkConf(cfg);
        if ("mnist".equalsIgnoreCase(cfg.data.download)) {
            MnistFetcher.ensure(cfg.data);
        }
        RunOutputs outputs = new RunOutputs(Path.of(cfg.output.dir));
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            return run(cfg, sc, outputs, wallStart);
        }
    }

    public static SparkConf sparkConf(JobConfig cfg) {
        SparkConf conf = new SparkConf().setAppName("lockstep");
        if (cfg.spark.master != null) {
            conf.setMaster(cfg.spark.master);
        } else if (!conf.contains("spark.master")) {
            conf.setMaster("local[" + cfg.workers + "]");
        }
        String master = conf.get("spark.master");
        if (master.startsWith("local")) {
            int slots = localSlots(master);
            if (slots < cfg.workers) {
                throw new ConfigLoader.ConfigException("config key 'spark.master' is " + master + " (" + slots
                    + " task slot" + (slots == 1 ? "" : "s") + ") but workers is " + cfg.workers
                    + ": the barrier stage runs all workers at once, one slot each");
            }
            conf.setIfMissing("spark.driver.host", "127.0.0.1");
            conf.setIfMissing("spark.driver.bindAddress", "127.0.0.1");
            conf.setIfMissing("spark.ui.enabled", "false");
        }
        // On a cluster Spark waits for enough slots for the barrier stage (executors may still be
        // starting); by default for 40 x 15 s. Bound that wait by ps.timeout_seconds.
        conf.setIfMissing("spark.scheduler.barrier.maxConcurrentTasksCheck.interval", "5s");
        conf.setIfMissing("spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures",
            String.valueOf(Math.max(1, cfg.ps.timeoutSeconds / 5)));
        cfg.spark.conf.forEach(conf::set);
        return conf;
    }

    /** Task slots of a local master: local, local[N], local[*], local[N,F], local[*,F]. */
    static int localSlots(String master) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("local(?:\\[(\\*|\\d+)(?:,\\d+)?])?")
            .matcher(master.trim());
        if (!m.matches()) {
            return Integer.MAX_VALUE; // local-cluster[...] and the like: Spark checks
        }
        String n = m.group(1);
        return n == null ? 1 : n.equals("*") ? Runtime.getRuntime().availableProcessors() : Integer.parseInt(n);
    }

    private static Map<String, Object> run(JobConfig cfg, JavaSparkContext sc, RunOutputs outputs, long wallStart)
        throws IOException {
        int workers = cfg.workers;
        DataLoader.Loaded data = DataLoader.load(sc, cfg);
        if (data.trainCount() < workers) {
            throw new IllegalArgumentException(cfg.data.train + ": " + data.trainCount()
                + " training samples cannot feed " + workers + " workers");
        }
        LOG.info("data: {} train / {} test samples, {} features, {} classes", data.trainCount(), data.testCount(),
            data.features(), data.classes());

        MultiLayerConfiguration model = modelConfig(cfg, data.features(), data.classes());
        MultiLayerNetwork net = new MultiLayerNetwork(model);
        net.init();
        float[] initial = net.params().toFloatVector();
        long largestShard = (data.trainCount() + workers - 1) / workers;
        int stepsPerEpoch = TrainingSpec.stepsPerEpoch(largestShard, cfg.batchSize);
        TrainingSpec spec = new TrainingSpec(model.toJson(), cfg.batchSize, cfg.epochs, stepsPerEpoch, cfg.seed,
            cfg.shuffle);
        LOG.info("model: {} parameters; {} workers x batch {} = global batch {}; {} steps/epoch x {} epochs",
            initial.length, workers, cfg.batchSize, workers * cfg.batchSize, stepsPerEpoch, cfg.epochs);

        // Row i goes to worker i mod N: balanced to within one row, and N workers at batch b see
        // exactly the rows one worker at batch N*b would see in each step.
        JavaRDD<Sample> sharded = data.train()
            .mapToPair(s -> new Tuple2<>((int) (s.index() % workers), s))
            .partitionBy(new HashPartitioner(workers))
            .values();

        ExchangeSpec exchange = exchangeSpec(cfg, initial.length);
        Broadcast<float[]> initialParams = sc.broadcast(initial);
        List<ReplicaResult> results;
        long droppedFrames;
        MetricsLog metrics = new MetricsLog(outputs.metrics(), stepsPerEpoch, cfg.epochs, cfg.logEvery);
        try (metrics;
             EmbeddedAeron aeron = EmbeddedAeron.forServer(exchange);
             ParameterServer server = ParameterServer.start(aeron.aeron(), exchange, metrics)) {
            try {
                results = sharded.rdd().barrier()
                    .mapPartitions(new TrainTask(spec, initialParams, exchange, data.features(), data.classes()),
                        false, ClassTag$.MODULE$.apply(ReplicaResult.class))
                    .toJavaRDD().collect();
            } catch (RuntimeException e) {
                String waiting = server.waitingFor();
                throw new IllegalStateException("training stage failed: " + DataLoader.rootCause(e).getMessage()
                    + (waiting.isEmpty() ? "" : " [parameter server: " + waiting + "]"), e);
            }
            droppedFrames = server.drops().total();
            if (droppedFrames > 0) {
                LOG.warn("parameter server dropped {} frames: {}", droppedFrames, server.drops());
            }
        }
        float finalLoss = metrics.lastLoss(); // closed above: the writer has drained every step
        ReplicaResult lead = checkReplicas(results, workers);
        initialParams.destroy();

        net.init(Nd4j.create(lead.params(), new long[]{1, lead.params().length}, 'c'), false);
        Broadcast<float[]> finalParams = sc.broadcast(lead.params());
        Evaluation eval = Evaluator.evaluate(data.test(), spec.modelJson(), finalParams, data.features(),
            data.classes());
        finalParams.destroy();
        outputs.writeModel(net, data.scaling().toDl4j());

        long samples = results.stream().mapToLong(ReplicaResult::samples).sum();
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("workers", workers);
        summary.put("epochs", cfg.epochs);
        summary.put("batch_size_per_worker", cfg.batchSize);
        summary.put("global_batch_size", workers * cfg.batchSize);
        summary.put("steps", lead.steps());
        summary.put("steps_per_epoch", stepsPerEpoch);
        summary.put("train_samples", data.trainCount());
        summary.put("test_samples", data.testCount());
        summary.put("samples_trained", samples);
        summary.put("parameters", lead.params().length);
        summary.put("final_loss", round(finalLoss));
        summary.put("train_seconds", round(lead.trainSeconds()));
        summary.put("samples_per_second", round(samples / lead.trainSeconds()));
        summary.put("wall_seconds", round((System.nanoTime() - wallStart) / 1e9));
        summary.put("time_split_seconds", Map.of("data", round(lead.times().data()),
            "compute", round(lead.times().compute()), "exchange", round(lead.times().exchange()),
            "apply", round(lead.times().apply())));
        summary.put("ps", Map.of("transport", cfg.ps.transport.toLowerCase(Locale.ROOT), "shards", cfg.ps.shards,
            "dropped_frames", droppedFrames));
        Map<String, Object> test = new LinkedHashMap<>();
        test.put("accuracy", round(eval.accuracy()));
        test.put("precision", round(eval.precision(EvaluationAveraging.Macro)));
        test.put("recall", round(eval.recall(EvaluationAveraging.Macro)));
        test.put("f1", round(eval.f1(EvaluationAveraging.Macro)));
        summary.put("test", test);
        summary.put("model", outputs.model().toString());
        outputs.writeSummary(JSON.writeValueAsString(summary));
        LOG.info(String.format(Locale.ROOT, "done: test accuracy %.4f, f1 %.4f; %,.0f samples/s over %.1f s of training; "
                + "outputs in %s", eval.accuracy(), eval.f1(EvaluationAveraging.Macro), samples / lead.trainSeconds(),
            lead.trainSeconds(), outputs.dir()));
        return summary;
    }

    public static MultiLayerConfiguration modelConfig(JobConfig cfg, int features, int classes) throws IOException {
        if (cfg.model.type.equalsIgnoreCase("json")) {
            Path path = Path.of(cfg.model.path);
            if (!Files.isRegularFile(path)) {
                throw new ConfigLoader.ConfigException("config key 'model.path': file not found: " + path);
            }
            try {
                return MultiLayerConfiguration.fromJson(Files.readString(path));
            } catch (RuntimeException e) {
                throw new ConfigLoader.ConfigException("config key 'model.path': " + path
                    + " is not a DL4J MultiLayerConfiguration JSON: " + DataLoader.rootCause(e).getMessage());
            }
        }
        return Models.mlp(features, cfg.model.hidden, cfg.model.activation, classes, cfg.loss,
            Models.optimizer(cfg.optimizer.type, cfg.optimizer.lr), cfg.seed);
    }

    static ExchangeSpec exchangeSpec(JobConfig cfg, int paramCount) {
        ExchangeSpec.Transport transport = ExchangeSpec.Transport.valueOf(cfg.ps.transport.toUpperCase(Locale.ROOT));
        ShardLayout layout = new ShardLayout(paramCount, cfg.ps.shards, ExchangeSpec.chunkValuesFor(cfg.ps.mtu));
        return ExchangeSpec.create(new SecureRandom().nextLong(), layout, cfg.workers, transport, cfg.ps.host,
            cfg.ps.termLength, cfg.ps.mtu, cfg.ps.timeoutSeconds * 1000L, 0);
    }

    /** Every replica must hold bit-identical parameters; a mismatch means the protocol broke. */
    static ReplicaResult checkReplicas(List<ReplicaResult> results, int workers) {
        if (results.size() != workers) {
            throw new IllegalStateException("expected results from " + workers + " workers, got " + results.size());
        }
        ReplicaResult lead = results.stream().filter(r -> r.rank() == 0).findFirst()
            .orElseThrow(() -> new IllegalStateException("no result from rank 0"));
        for (ReplicaResult r : results) {
            if (r.paramDigest() != lead.paramDigest()) {
                throw new IllegalStateException("replicas diverged: rank " + r.rank()
                    + " ended with different parameters than rank 0");
            }
        }
        return lead;
    }

    private static double round(double v) {
        return Math.round(v * 1e4) / 1e4;
    }
}
