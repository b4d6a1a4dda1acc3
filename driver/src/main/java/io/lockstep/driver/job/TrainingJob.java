package io.lockstep.driver.job;

import io.lockstep.driver.config.Download;
import io.lockstep.ps.wire.WireFormat;
import io.lockstep.driver.config.OnNonFinite;
import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.config.Specs;
import io.lockstep.driver.data.DataLoader;
import io.lockstep.driver.data.MnistFetcher;
import io.lockstep.driver.kryo.Unregistered;
import io.lockstep.driver.output.HadoopCheckpointStore;
import io.lockstep.driver.output.ModelMetadata;
import io.lockstep.driver.output.RunOutputs;
import io.lockstep.driver.output.RunSummary;
import io.lockstep.driver.spark.ExecutorWait;
import io.lockstep.driver.spark.RankRows;
import io.lockstep.driver.spark.RunPlan;
import io.lockstep.driver.spark.SparkConfs;
import io.lockstep.driver.spark.StartPoint;
import io.lockstep.driver.spark.Topology;
import io.lockstep.worker.listener.CheckpointListener.RunIdentity;
import io.lockstep.worker.metrics.EvalMetrics;
import io.lockstep.worker.train.ReplicaResult;
import io.lockstep.worker.train.TrainState;
import io.lockstep.worker.train.TrainerOptions;
import io.lockstep.worker.train.TrainingListener;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.api.Model;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One training run, start to finish: prepare (read, split and shard the data with Spark, build the model,
 * find the start point: fresh or a checkpoint), run the training stage ({@link Attempts}: one barrier stage of
 * N replicas, again after a failure as {@link RecoveryPolicy} allows; validation, early stopping and
 * checkpoints happen inside it), then publish: evaluate the published parameters on the test split and write
 * model.zip, metrics.jsonl and summary.json.
 */
public final class TrainingJob {
    private static final Logger LOG = LoggerFactory.getLogger("lockstep");

    private TrainingJob() {
    }

    /** Runs the job and returns the summary that was written to summary.json. */
    public static Map<String, Object> run(JobConfig config) throws IOException {
        return run(config, List.of());
    }

    /** As {@link #run(JobConfig)}, with the caller's listeners inside every replica (serializable). */
    public static Map<String, Object> run(JobConfig config, List<TrainingListener> listeners) throws IOException {
        long wallStart = System.nanoTime();
        JobConfig cfg = ConfigLoader.checked(config, true); // validated, and fixed for this run
        SparkConf conf = SparkConfs.of(cfg);
        RunOutputs outputs = new RunOutputs(Path.of(cfg.output().dir())); // checks output.dir before any download
        if (cfg.data().download() == Download.MNIST) {
            MnistFetcher.ensure(cfg.data());
        }
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            ExecutorWait.awaitFirst(sc, cfg); // before the data is read on them
            return train(cfg, sc, DataLoader.load(sc, cfg), outputs, listeners, wallStart).summary();
        } catch (IOException e) {
            outputs.discard(); // this run's temporary files; the earlier run's outputs stay as they were
            throw e;
        } catch (RuntimeException e) {
            outputs.discard();
            throw Unregistered.explained(e);
        }
    }

    /** A trained network (the published parameters: the best by the watched metric, else the last) and its summary. */
    public record Result(Model network, Map<String, Object> summary) {
    }

    /**
     * Trains on loaded data with a running Spark context: prepare (model, start point, partitions),
     * run the barrier stage, publish (test evaluation, model.zip, summary.json). The user's
     * listeners run inside every replica, after validation and early stopping, before checkpoints.
     * Without a test split the summary has no test metrics.
     */
    public static Result train(JobConfig cfg, JavaSparkContext sc, DataLoader.Loaded data, RunOutputs outputs,
                               List<TrainingListener> listeners, long wallStart) throws IOException {
        ExecutorWait.awaitFirst(sc, cfg);
        Prepared prepared = prepare(cfg, sc, data, listeners);
        try {
            Attempts.Stage stage = Attempts.run(cfg, sc, prepared, outputs);
            return publish(cfg, sc, data, prepared, stage, outputs, wallStart);
        } finally {
            if (prepared.plan().checkpoints() instanceof HadoopCheckpointStore store) {
                try {
                    store.removeProbe();
                } catch (IOException e) {
                    LOG.warn("could not remove the probe file from checkpoint.dir {}: {}", cfg.checkpoint().dir(),
                        e.toString());
                }
            }
        }
    }

    private static Prepared prepare(JobConfig cfg, JavaSparkContext sc, DataLoader.Loaded data,
                                    List<TrainingListener> listeners) throws IOException {
        int workers = cfg.workers();
        if (data.trainCount() < workers) {
            throw new IllegalArgumentException((cfg.data().train() != null ? cfg.data().train() : "the train dataset") + ": "
                + data.trainCount() + " training samples cannot feed " + workers + " workers");
        }
        String task = data.task().key();
        LOG.info("data: {} train / {} validation / {} test samples, {} features, {} outputs", data.trainCount(),
            data.validationCount(), data.testCount(), data.features(), data.outputs());

        long largestPartition = (data.trainCount() + workers - 1) / workers;
        TrainerOptions options = new TrainerOptions(cfg.epochs(),
            TrainerOptions.stepsPerEpoch(largestPartition, cfg.batchSize(), cfg.accumulateSteps()), cfg.accumulateSteps(),
            Specs.clipping(cfg.clipping()), cfg.onNonFinite() == OnNonFinite.SKIP);
        ModelSetup model = ModelSetup.build(cfg, data.features(), null, data.outputs(), task, options.totalSteps());
        float[] initial = model.network().params().toFloatVector();
        LOG.info("model: {} parameters; {} workers x batch {}{} = global batch {}; {} steps/epoch x {} epochs",
            initial.length, workers, cfg.batchSize(),
            cfg.accumulateSteps() > 1 ? " x " + cfg.accumulateSteps() + " micro-batches" : "",
            workers * cfg.batchSize() * cfg.accumulateSteps(), options.stepsPerEpoch(), cfg.epochs());

        RunIdentity identity = RunIdentities.of(cfg, RunIdentities.bytes(data.scaling()));
        HadoopCheckpointStore store = cfg.checkpoint().dir() == null ? null
            : new HadoopCheckpointStore(cfg.checkpoint().dir(), cfg.checkpoint().keep());
        if (store != null && !sc.isLocal()) {
            store = store.withProbe(); // every rank checks it sees the directory the driver resumes from
        }
        StartPoint start = Resume.startPoint(cfg, store, identity, initial);
        Watch watch = Watch.of(cfg, task, data.validation() != null);
        Topology topology = Topology.of(cfg, sc);
        RunPlan plan = RunPlan.builder()
            .modelJson(model.json()).task(task).outputs(data.outputs()).features(data.features())
            .batchSize(cfg.batchSize()).shuffle(cfg.shuffle()).seed(cfg.seed()).options(options)
            .exchange(topology.exchangeSpec(initial.length, model.stepSite(), start.state().step()))
            .validation(data.validation() == null ? null : cfg.validation().every())
            .bestMetric(watch.metric()).higherIsBetter(watch.higherIsBetter()).minDelta(watch.minDelta())
            .patience(watch.patience())
            .checkpoints(store).checkpointEvery(cfg.checkpoint().every()).identity(identity)
            .listeners(listeners).stepSite(model.stepSite())
            .localReduction(cfg.ps().localReduction()).shardsOnExecutors(topology.shardsOnExecutors())
            .logEvery(cfg.logEvery())
            .build();
        LOG.info("optimizer on the {}; exchange {}", model.stepSite().isServer() ? "parameter server" : "replicas",
            topology.exchangeKind());
        if (topology.inMemory() && cfg.ps().wire() != WireFormat.FP32) {
            LOG.warn("ps.wire {} does not apply: every worker runs in this JVM and exchanges in memory"
                + " (set ps.local_reduction: false to send gradients over the wire)", cfg.ps().wire().configName());
        }

        JavaRDD<RankRows> rows = RankRows.byRank(sc, data.train(), data.validation(), workers);
        return new Prepared(plan, model, start, watch, topology, rows);
    }
    /** Evaluates the published parameters on the test split and writes model.zip and summary.json. */
    private static Result publish(JobConfig cfg, JavaSparkContext sc, DataLoader.Loaded data, Prepared p, Attempts.Stage s,
                                  RunOutputs outputs, long wallStart) throws IOException {
        ReplicaResult lead = s.lead();
        TrainState end = lead.state();
        String task = p.plan().task();
        // the best model by the watched metric, when one is kept; else the last parameters
        float[] published = lead.bestParams() != null ? lead.bestParams() : lead.params();
        EvalMetrics test = null;
        if (data.test() != null) {
            Broadcast<float[]> params = sc.broadcast(published);
            test = Evaluator.evaluate(data.test(), p.model().json(), params, data.features(), task, data.outputs());
            params.destroy();
        }
        p.model().network().setParams(published);

        double seconds = lead.trainSeconds();
        double rate = s.samples() / Math.max(1e-9, seconds);
        int workers = cfg.workers();
        Watch watch = p.watch();
        RunSummary summary = RunSummary.builder()
            .task(task).workers(workers).replicas(s.replicas()).devices(s.devices())
            .epochs(cfg.epochs()).epochsCompleted(end.epoch() + (end.stepInEpoch() == 0 ? 0 : 1))
            .batchSizePerWorker(cfg.batchSize()).accumulateSteps(cfg.accumulateSteps())
            .globalBatchSize(workers * cfg.batchSize() * cfg.accumulateSteps())
            .steps(end.step()).stepsPerEpoch(p.plan().options().stepsPerEpoch())
            .resumedFromStep(p.start().state().step()).skippedSteps(end.skippedSteps()).stoppedEarly(lead.stopReason())
            .trainSamples(data.trainCount()).validationSamples(data.validationCount()).testSamples(data.testCount())
            .samplesTrained(s.samples()).parameters(published.length)
            .finalLoss(RunSummary.finite(s.finalLoss()))
            .trainSeconds(round(seconds)).samplesPerSecond(round(rate))
            .wallSeconds(round((System.nanoTime() - wallStart) / 1e9))
            .timeSplitSeconds(new RunSummary.TimeSplit(round(lead.times().data()), round(lead.times().compute()),
                round(lead.times().exchange()), round(lead.times().apply())))
            .timeline(s.timeline())
            .ps(new RunSummary.Ps(p.topology().exchangeKind(), p.plan().exchange().layout().shards(),
                p.topology().placement(), s.droppedFrames(), p.plan().stepSite().name()))
            .attempts(s.attempts()).validation(s.lastValidation())
            .best(watch.metric() != null && end.bestStep() >= 0 ? new RunSummary.Best(watch.metric(),
                RunSummary.finite(end.bestValue()), end.bestEpoch(), end.bestStep(), lead.bestParams() != null) : null)
            .test(test == null ? null : test.toMap()).model(outputs.model().toString())
            .build();
        outputs.writeModel(p.model().network().dl4j(), data.scaling().toDl4j(), ModelMetadata.of(data.features(),
            data.outputs(), data.classes(), data.scaling(), ConfigLoader.toTree(cfg), summary.toMap()));
        outputs.writeSummary(summary.toJson());
        LOG.info(String.format(Locale.ROOT, "done: %s; %,.0f samples/s over %.1f s of training; outputs in %s",
            test == null ? "no test split" : "test " + headline(test), rate, seconds, outputs.dir()));
        return new Result(p.model().network().dl4j(), summary.toMap());
    }

    /** The task's headline metrics, e.g. "accuracy 0.9758, f1 0.9755" or "r2 0.4700, rmse 54.1000". */
    public static String headline(EvalMetrics m) {
        List<String> names = m.task().equals("regression") ? List.of("r2", "rmse")
            : m.task().equals("binary") ? List.of("accuracy", "auc") : List.of("accuracy", "f1");
        StringBuilder sb = new StringBuilder();
        for (String n : names) {
            sb.append(sb.length() == 0 ? "" : ", ").append(n).append(' ')
                .append(String.format(Locale.ROOT, "%.4f", m.metric(n)));
        }
        return sb.toString();
    }

    private static double round(double v) {
        return RunSummary.round(v);
    }
}