package io.lockstep.driver.job;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.config.Specs;
import io.lockstep.driver.data.DataLoader;
import io.lockstep.driver.data.MnistFetcher;
import io.lockstep.driver.output.HadoopCheckpointStore;
import io.lockstep.driver.output.MetricsLog;
import io.lockstep.driver.output.RunOutputs;
import io.lockstep.driver.output.RunSummary;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.optim.ServerOptimizer;
import io.lockstep.ps.server.GatherListener;
import io.lockstep.ps.server.JobListeners;
import io.lockstep.ps.server.ParameterServer;
import io.lockstep.ps.wire.WireFormat;
import io.lockstep.worker.checkpoint.CheckpointStore;
import io.lockstep.worker.data.Sample;
import io.lockstep.worker.exchange.WireDrops;
import io.lockstep.worker.listener.CheckpointListener.RunIdentity;
import io.lockstep.worker.metrics.EvalMetrics;
import io.lockstep.worker.optim.ServerPlan;
import io.lockstep.worker.train.ReplicaResult;
import io.lockstep.worker.train.TrainState;
import io.lockstep.worker.train.Trainer;
import io.lockstep.worker.train.TrainerOptions;
import io.lockstep.worker.train.TrainingListener;
import org.apache.spark.HashPartitioner;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.api.Model;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;
import scala.reflect.ClassTag$;

import java.io.IOException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One training run, start to finish: read, split and shard the data with Spark, build the
 * model, find the start point (fresh or a checkpoint), start the parameter server, run one
 * barrier stage of N replicas (validation, early stopping and checkpoints happen inside it), check
 * they ended identical, evaluate the published parameters on the test split and write model.zip,
 * metrics.jsonl and summary.json.
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
        JobConfig cfg = ConfigLoader.snapshot(config, true); // validated, and fixed for this run
        SparkConf conf = sparkConf(cfg);
        RunOutputs outputs = new RunOutputs(Path.of(cfg.output.dir)); // checks output.dir before any download
        if ("mnist".equalsIgnoreCase(cfg.data.download)) {
            MnistFetcher.ensure(cfg.data);
        }
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            return train(cfg, sc, DataLoader.load(sc, cfg), outputs, listeners, wallStart).summary();
        } catch (IOException | RuntimeException e) {
            outputs.discard(); // this run's temporary files; the earlier run's outputs stay as they were
            throw e;
        }
    }

    /** A trained network (the published parameters: the best by the watched metric, else the last) and its summary. */
    public record Result(Model network, Map<String, Object> summary) {
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
            if (!conf.contains("spark.local.dir") && System.getenv("SPARK_LOCAL_DIRS") == null) {
                conf.set("spark.local.dir",
                    SparkScratch.forThisProcess(Path.of(System.getProperty("java.io.tmpdir"))).toString());
            }
            conf.setIfMissing("spark.driver.host", "127.0.0.1");
            conf.setIfMissing("spark.driver.bindAddress", "127.0.0.1");
            conf.setIfMissing("spark.ui.enabled", "false");
        }
        // On a cluster Spark waits for enough slots for the barrier stage (executors may still be
        // starting); by default for 40 x 15 s. Bound that wait by ps.timeout_seconds.
        conf.setIfMissing("spark.scheduler.barrier.maxConcurrentTasksCheck.interval", "5s");
        // the barrier's allGather (shard endpoints) and barrier() (the shards' last step) wait for every rank:
        // within the stall budget, not Spark's default of a year
        conf.setIfMissing("spark.barrier.sync.timeout", cfg.ps.timeoutSeconds + "s");
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

    /**
     * Trains on loaded data with a running Spark context: prepare (model, start point, partitions),
     * run the barrier stage, publish (test evaluation, model.zip, summary.json). The user's
     * listeners run inside every replica, after validation and early stopping, before checkpoints.
     * Without a test split the summary has no test metrics.
     */
    public static Result train(JobConfig cfg, JavaSparkContext sc, DataLoader.Loaded data, RunOutputs outputs,
                               List<TrainingListener> listeners, long wallStart) throws IOException {
        Prepared prepared = prepare(cfg, sc, data, listeners);
        Stage stage = runAttempts(cfg, sc, prepared, outputs);
        return publish(cfg, sc, data, prepared, stage, outputs, wallStart);
    }

    /** Everything fixed before the stage starts. */
    private record Prepared(RunPlan plan, ModelSetup model, StartPoint start, Watch watch,
                            JavaRDD<TrainTask.RankRows> rows) {
    }

    /** What the stage produced: rank 0's result (the others agreed with it) and the driver's view of it. */
    private record Stage(ReplicaResult lead, List<String> replicas, long samples, float finalLoss, long droppedFrames,
                         Map<String, Object> lastValidation, List<RunSummary.Attempt> attempts,
                         RunSummary.Timeline timeline) {
    }

    private static Prepared prepare(JobConfig cfg, JavaSparkContext sc, DataLoader.Loaded data,
                                    List<TrainingListener> listeners) throws IOException {
        int workers = cfg.workers;
        if (data.trainCount() < workers) {
            throw new IllegalArgumentException((cfg.data.train != null ? cfg.data.train : "the train dataset") + ": "
                + data.trainCount() + " training samples cannot feed " + workers + " workers");
        }
        String task = data.task().key();
        LOG.info("data: {} train / {} validation / {} test samples, {} features, {} outputs", data.trainCount(),
            data.validationCount(), data.testCount(), data.features(), data.outputs());

        long largestPartition = (data.trainCount() + workers - 1) / workers;
        TrainerOptions options = new TrainerOptions(cfg.epochs,
            TrainerOptions.stepsPerEpoch(largestPartition, cfg.batchSize, cfg.accumulateSteps), cfg.accumulateSteps,
            Specs.clipping(cfg.clipping), cfg.onNonFinite.equalsIgnoreCase("skip"));
        ModelSetup model = ModelSetup.build(cfg, data.features(), null, data.outputs(), task, options.totalSteps());
        float[] initial = model.network().params().toFloatVector();
        LOG.info("model: {} parameters; {} workers x batch {}{} = global batch {}; {} steps/epoch x {} epochs",
            initial.length, workers, cfg.batchSize,
            cfg.accumulateSteps > 1 ? " x " + cfg.accumulateSteps + " micro-batches" : "",
            workers * cfg.batchSize * cfg.accumulateSteps, options.stepsPerEpoch(), cfg.epochs);

        RunIdentity identity = RunIdentities.of(cfg, RunIdentities.bytes(data.scaling()));
        CheckpointStore store = cfg.checkpoint.dir == null ? null
            : new HadoopCheckpointStore(cfg.checkpoint.dir, cfg.checkpoint.keep);
        StartPoint start = Resume.startPoint(cfg, store, identity, initial);
        Watch watch = Watch.of(cfg, task, data.validation() != null);
        RunPlan plan = new RunPlan(model.json(), task, data.outputs(), data.features(), cfg.batchSize, cfg.shuffle,
            cfg.seed, options, exchangeSpec(cfg, sc.master(), initial.length, model.serverPlan(), start.state().step()),
            data.validation() == null ? null : Specs.every("validation.every", cfg.validation.every),
            watch.metric(), watch.higherIsBetter(), watch.minDelta(), watch.patience(), store,
            Specs.every("checkpoint.every", cfg.checkpoint.every), identity, List.copyOf(listeners),
            model.serverPlan(), cfg.ps.localReduction, shardsOnExecutors(cfg, sc.master()), cfg.logEvery);
        LOG.info("optimizer on the {}; exchange {}", model.serverPlan() != null ? "parameter server" : "replicas",
            exchangeKind(plan, sc.master()));
        if (exchangeKind(plan, sc.master()).equals("memory") && !cfg.ps.wire.equalsIgnoreCase("fp32")) {
            LOG.warn("ps.wire {} does not apply: every worker runs in this JVM and exchanges in memory"
                + " (set ps.local_reduction: false to send gradients over the wire)", cfg.ps.wire);
        }

        // Row i goes to worker i mod N: balanced to within one row, and N workers at batch b see
        // exactly the rows one worker at batch N*b would see in each step. Validation rows likewise,
        // paired with the training rows of the same rank.
        JavaRDD<TrainTask.RankRows> rows = byRank(data.train(), workers).zipPartitions(
            byRank(data.validation() == null ? sc.emptyRDD() : data.validation(), workers),
            (train, validation) -> List.of(new TrainTask.RankRows(list(train), list(validation))).iterator());
        return new Prepared(plan, model, start, watch, rows);
    }

    /** Exception classes a rank throws for bad data, config or a diverged model: retrying cannot help. */
    private static final java.util.Set<String> FATAL = java.util.Set.of(
        IllegalArgumentException.class.getName(), ConfigLoader.ConfigException.class.getName(),
        NumberFormatException.class.getName(), UnsupportedOperationException.class.getName(),
        io.lockstep.worker.train.NonFiniteException.class.getName());

    /**
     * The barrier stage, attempt after attempt: a retryable failure (a lost executor, a rank that
     * stalled past the deadline or failed in the exchange) restarts the stage from the newest valid
     * checkpoint — step 0 without one — with a fresh job id, so leftovers of the failed attempt are
     * dropped as foreign, and a fresh parameter server. A fatal failure (bad data or config, a
     * non-finite loss) or the last allowed attempt ends the job, naming the first real cause.
     */
    private static Stage runAttempts(JobConfig cfg, JavaSparkContext sc, Prepared p, RunOutputs outputs)
        throws IOException {
        StageFailures failures = new StageFailures();
        sc.sc().addSparkListener(failures);
        StartPoint start = p.start();
        List<RunSummary.Attempt> attempts = new ArrayList<>();
        List<WireDrops> attemptDrops = new ArrayList<>(); // by attempt, as counted
        WireDrops shape = WireDrops.zero();               // every kind counted so far, for a stable shape
        List<ReplicaResult> results = null;
        MetricsLog metrics = outputs.openMetrics(p.plan().options().stepsPerEpoch(), cfg.epochs,
            cfg.logEvery, p.model().learningRate(), start.state().step() > 0).withTimeline();
        ValidationLog validationLog = new ValidationLog(metrics, p.plan().options().stepsPerEpoch());
        try (metrics) {
            for (int attempt = 1; results == null; attempt++) {
                long began = System.nanoTime();
                long from = start.state().step();
                RunPlan plan = p.plan().withExchange(exchangeSpec(cfg, sc.master(),
                    Math.toIntExact(p.model().network().parameterCount()), p.model().serverPlan(), from));
                int stageFrom = failures.nextStage();
                try {
                    Outcome outcome = runOnce(sc, plan, p.rows(), start, metrics, validationLog);
                    results = outcome.results();
                    shape = shape.merge(outcome.drops());
                    attemptDrops.add(outcome.drops());
                    attempts.add(ended(metrics, new RunSummary.Attempt(attempt, from, null, null, null,
                        round(seconds(began)), outcome.drops().shapedLike(shape).toMap())));
                } catch (AttemptFailed failed) {
                    StageFailures.Failure f = failures.first(stageFrom, 3000);
                    // the driver's own counts, and what the failed tasks carried back in their exceptions
                    WireDrops drops = failed.drops.merge(failures.drops(stageFrom));
                    String cause = (f != null ? f.describe() : DataLoader.rootCause(failed).getMessage())
                        + (failed.waiting.isEmpty() ? "" : " [parameter server: " + failed.waiting + "]");
                    boolean retryable = f == null || f.lost() || !FATAL.contains(f.className());
                    long reached = Math.max(from, metrics.lastStep());
                    double ran = round(seconds(began));
                    if (!retryable || attempt >= cfg.recovery.maxAttempts) {
                        String message = (!retryable ? "training stage failed: " + cause
                            : "training failed in all " + attempt + " attempts (recovery.max_attempts); the last: " + cause)
                            + droppedThisAttempt(drops);
                        LOG.error(message, failed.getCause()); // the whole chain in the log; the CLI prints one line
                        throw new IllegalStateException(message, failed.getCause());
                    }
                    start = Resume.latest(cfg, p.plan().checkpoints(), p.plan().identity(),
                        p.start().params(), "recovery");
                    shape = shape.merge(drops);
                    attemptDrops.add(drops);
                    attempts.add(ended(metrics, new RunSummary.Attempt(attempt, from, reached,
                        reached - start.state().step(), cause, ran, drops.shapedLike(shape).toMap())));
                    LOG.warn("attempt {} failed at step {}: {}{}; attempt {} of {} starts at step {} ({} steps redone)",
                        attempt, reached, cause, droppedThisAttempt(drops), attempt + 1, cfg.recovery.maxAttempts,
                        start.state().step(), reached - start.state().step());
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while training", e);
        } finally {
            sc.sc().removeSparkListener(failures);
        }
        for (ReplicaResult r : results) {
            if (r.failure() != null) {
                throw new IllegalStateException(r.failure()
                    + droppedThisAttempt(attemptDrops.get(attemptDrops.size() - 1)));
            }
        }
        ReplicaResult lead = checkReplicas(results, cfg.workers);
        if (lead.stopReason() != null) {
            LOG.info(lead.stopReason());
        }
        List<String> where = results.stream().sorted(java.util.Comparator.comparingInt(ReplicaResult::rank))
            .map(ReplicaResult::where).toList();
        // every attempt with every kind any attempt counted, so each entry has the same shape
        List<RunSummary.Attempt> shaped = new ArrayList<>();
        for (int i = 0; i < attempts.size(); i++) {
            shaped.add(attempts.get(i).withDrops(attemptDrops.get(i).shapedLike(shape).toMap()));
        }
        // metrics is closed above: its writer has drained every step
        return new Stage(lead, where, results.stream().mapToLong(ReplicaResult::samples).sum(), metrics.lastLoss(),
            attemptDrops.stream().mapToLong(WireDrops::serverTotal).sum(), validationLog.last(), shaped,
            metrics.timelineSummary());
    }

    /** An attempt's end: its line in metrics.jsonl, in order with its steps. */
    private static RunSummary.Attempt ended(MetricsLog metrics, RunSummary.Attempt attempt) {
        metrics.attempt(attempt);
        return attempt;
    }

    /** For the one-line error: " (frames dropped this attempt: shards malformed=3; workers ignored=2)", or "". */
    static String droppedThisAttempt(WireDrops drops) {
        String counted = drops.nonZero();
        return counted.isEmpty() ? "" : " (frames dropped this attempt: " + counted + ")";
    }

    /**
     * A failed attempt of the stage, with what the driver's parameter server was still waiting for and what it
     * refused (the tasks' own counts come through {@link StageFailures}).
     */
    private static final class AttemptFailed extends Exception {
        final String waiting;
        final WireDrops drops;

        AttemptFailed(Exception cause, String waiting, WireDrops drops) {
            super(cause.getMessage(), cause);
            this.waiting = waiting;
            this.drops = drops;
        }
    }

    /** A completed attempt: every rank's result and the frames refused anywhere during it. */
    private record Outcome(List<ReplicaResult> results, WireDrops drops) {
    }

    /** One attempt: a parameter server for it and the barrier stage of N replicas. */
    private static Outcome runOnce(JavaSparkContext sc, RunPlan plan, JavaRDD<TrainTask.RankRows> rows,
                                   StartPoint start, MetricsLog metrics, ValidationLog validationLog)
        throws AttemptFailed {
        Broadcast<StartPoint> startPoint = sc.broadcast(start);
        ExchangeSpec spec = plan.exchange();
        GatherListener gathers = (round, blobs) -> {
            if (round % 4 == Trainer.ROUND_TIMELINE) {
                metrics.timeline(blobs);
            } else {
                validationLog.onGathered(round, blobs);
            }
        };
        // workers all in this JVM exchange in memory (InProcessExchange) and report here; else the server,
        // or with the shards on the executors only its all-gather endpoint, which takes shard 0's step reports
        boolean serverNeeded = !(workersInDriver(sc.master()) && plan.localReduction());
        LOG.info("training stage: {} workers from step {}, exchange {}{}", spec.workers(), spec.firstStep(),
            exchangeKind(plan, sc.master()), plan.shardsOnExecutors() && serverNeeded
                ? ", " + spec.layout().shards() + " shards on the executors" : "");
        try (JobListeners.Registration listeners = JobListeners.register(spec.jobId(), metrics, gathers);
             EmbeddedAeron aeron = serverNeeded ? EmbeddedAeron.forServer(spec) : null;
             ParameterServer server = !serverNeeded ? null
                 : plan.shardsOnExecutors() ? ParameterServer.startGather(aeron.aeron(), spec, metrics, gathers)
                 : ParameterServer.start(aeron.aeron(), spec, metrics, gathers, start.params(),
                     plan.serverPlan() == null ? null : start.serverState(plan.serverPlan()))) {
            List<ReplicaResult> results;
            // when one task fails Spark cancels its siblings; interrupting them ends their waits in the
            // exchange at once instead of at the deadline, so their slots are free for the next attempt
            sc.setJobGroup("lockstep-" + Long.toHexString(plan.exchange().jobId()), "lockstep training", true);
            try {
                results = rows.rdd().barrier()
                    .mapPartitions(new TrainTask(plan, startPoint), false, ClassTag$.MODULE$.apply(ReplicaResult.class))
                    .toJavaRDD().collect();
            } catch (Exception e) {
                Throwable serverFault = server == null ? null : server.failure(); // e.g. a shard that timed out
                String waiting = server == null ? "" : server.waitingFor();
                if (serverFault != null && serverFault.getMessage() != null) {
                    waiting = serverFault.getMessage() + (waiting.isEmpty() ? "" : "; " + waiting);
                }
                throw new AttemptFailed(e, waiting, WireDrops.of(server, true));
            } finally {
                sc.clearJobGroup();
            }
            WireDrops drops = WireDrops.of(server, true); // here, and on the executors: their shards', every client's
            for (ReplicaResult r : results) {
                drops = drops.merge(r.drops());
            }
            if (drops.serverTotal() > 0) { // the clients' counts alone are routine (late repeats, resends): no warning
                LOG.warn("frames dropped in this attempt: {}", drops.nonZero());
            } else if (!drops.nonZero().isEmpty()) {
                LOG.info("frames dropped in this attempt: {}", drops.nonZero());
            }
            return new Outcome(results, drops);
        } finally {
            startPoint.destroy();
        }
    }

    /** Evaluates the published parameters on the test split and writes model.zip and summary.json. */
    private static Result publish(JobConfig cfg, JavaSparkContext sc, DataLoader.Loaded data, Prepared p, Stage s,
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
        outputs.writeModel(p.model().network().dl4j(), data.scaling().toDl4j());

        double seconds = lead.trainSeconds();
        double rate = s.samples() / Math.max(1e-9, seconds);
        int workers = cfg.workers;
        Watch watch = p.watch();
        RunSummary summary = new RunSummary(task, workers, s.replicas(), cfg.epochs, end.epoch() + (end.stepInEpoch() == 0 ? 0 : 1),
            cfg.batchSize, cfg.accumulateSteps, workers * cfg.batchSize * cfg.accumulateSteps, end.step(),
            p.plan().options().stepsPerEpoch(), p.start().state().step(), end.skippedSteps(), lead.stopReason(),
            data.trainCount(), data.validationCount(), data.testCount(), s.samples(), published.length,
            RunSummary.finite(s.finalLoss()), round(seconds), round(rate), round((System.nanoTime() - wallStart) / 1e9),
            new RunSummary.TimeSplit(round(lead.times().data()), round(lead.times().compute()),
                round(lead.times().exchange()), round(lead.times().apply())), s.timeline(),
            new RunSummary.Ps(exchangeKind(p.plan(), sc.master()), p.plan().exchange().layout().shards(),
                placement(p.plan(), sc.master()), s.droppedFrames(), p.plan().serverPlan() != null ? "server" : "replica"),
            s.attempts(), s.lastValidation(),
            watch.metric() != null && end.bestStep() >= 0 ? new RunSummary.Best(watch.metric(),
                RunSummary.finite(end.bestValue()), end.bestEpoch(), end.bestStep(), lead.bestParams() != null) : null,
            test == null ? null : test.toMap(), outputs.model().toString());
        outputs.writeSummary(summary.toJson());
        LOG.info(String.format(Locale.ROOT, "done: %s; %,.0f samples/s over %.1f s of training; outputs in %s",
            test == null ? "no test split" : "test " + headline(test), rate, seconds, outputs.dir()));
        return new Result(p.model().network().dl4j(), summary.toMap());
    }

    /** The task's headline metrics, e.g. "accuracy 0.9758, f1 0.9755" or "r2 0.4700, rmse 54.1000". */
    static String headline(EvalMetrics m) {
        List<String> names = m.task().equals("regression") ? List.of("r2", "rmse")
            : m.task().equals("binary") ? List.of("accuracy", "auc") : List.of("accuracy", "f1");
        StringBuilder sb = new StringBuilder();
        for (String n : names) {
            sb.append(sb.length() == 0 ? "" : ", ").append(n).append(' ')
                .append(String.format(Locale.ROOT, "%.4f", m.metric(n)));
        }
        return sb.toString();
    }

    private static JavaRDD<Sample> byRank(JavaRDD<Sample> samples, int workers) {
        return samples.mapToPair(s -> new Tuple2<>((int) (s.index() % workers), s))
            .partitionBy(new HashPartitioner(workers))
            .values();
    }

    private static List<Sample> list(java.util.Iterator<Sample> it) {
        List<Sample> out = new ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }

    static ExchangeSpec exchangeSpec(JobConfig cfg, String master, int paramCount, ServerPlan serverPlan,
                                     long firstStep) {
        ShardLayout layout = new ShardLayout(paramCount, shardCount(cfg, master, paramCount),
            ExchangeSpec.chunkValuesFor(cfg.ps.mtu));
        return ExchangeSpec.create(new SecureRandom().nextLong(), layout, cfg.workers, transport(cfg, master),
            cfg.ps.host, cfg.ps.termLength, cfg.ps.mtu, cfg.ps.timeoutSeconds * 1000L, firstStep)
            .withOptimizer(serverPlan == null ? null : new ServerOptimizer(serverPlan.rule(), serverPlan.roles()))
            .withWire(WireFormat.parse(cfg.ps.wire));
    }

    /**
     * {@code ps.placement}: executors when asked, or (auto) when the workers exchange over UDP outside the driver's
     * JVM; never when every worker runs in the driver's JVM and reduces in memory (no server at all then).
     */
    static boolean shardsOnExecutors(JobConfig cfg, String master) {
        return shardsOnExecutors(cfg, workersInDriver(master));
    }

    /** {@link #shardsOnExecutors(JobConfig, String)} for a master whose workers do, or do not, run in the driver's JVM. */
    public static boolean shardsOnExecutors(JobConfig cfg, boolean workersInDriver) {
        String placement = cfg.ps.placement.toLowerCase(Locale.ROOT);
        if (placement.equals("driver") || (workersInDriver && cfg.ps.localReduction)) {
            return false;
        }
        return placement.equals("executors")
            || (!workersInDriver && transport(cfg, false) == ExchangeSpec.Transport.UDP);
    }

    /**
     * Shards of the job: {@code ps.shards}, and with the shards on the executors at least one per worker (up to
     * the limit of 64), so each worker's executor takes its share and none takes everyone's gradient.
     */
    static int shardCount(JobConfig cfg, String master, int paramCount) {
        int shards = shardCount(cfg, workersInDriver(master));
        return shardsOnExecutors(cfg, master) ? Math.min(paramCount, shards) : shards;
    }

    /** {@link #shardCount(JobConfig, String, int)} for a model of at least that many parameters. */
    public static int shardCount(JobConfig cfg, boolean workersInDriver) {
        return shardsOnExecutors(cfg, workersInDriver)
            ? Math.min(ConfigLoader.MAX_SHARDS, Math.max(cfg.ps.shards, cfg.workers)) : cfg.ps.shards;
    }

    /** Where the shards ran: "none" (the in-memory exchange has no server), "executors" or "driver". */
    static String placement(RunPlan plan, String master) {
        return exchangeKind(plan, master).equals("memory") ? "none" : plan.shardsOnExecutors() ? "executors" : "driver";
    }

    /** How gradients travel: "memory" (every worker in the driver's JVM, reduced in place), "ipc" or "udp". */
    static String exchangeKind(RunPlan plan, String master) {
        return workersInDriver(master) && plan.localReduction() ? "memory"
            : plan.exchange().transport().name().toLowerCase(Locale.ROOT);
    }

    /**
     * {@code ps.transport}; auto: shared memory when every worker runs in this JVM (embedded Spark) and so do the
     * shards, else UDP.
     */
    static ExchangeSpec.Transport transport(JobConfig cfg, String master) {
        return transport(cfg, workersInDriver(master));
    }

    /** {@link #transport(JobConfig, String)} for a master whose workers do, or do not, run in the driver's JVM. */
    public static ExchangeSpec.Transport transport(JobConfig cfg, boolean workersInDriver) {
        if (cfg.ps.transport.equalsIgnoreCase("auto")) { // shards on the executors: other JVMs, in general
            return workersInDriver && !cfg.ps.placement.equalsIgnoreCase("executors")
                ? ExchangeSpec.Transport.IPC : ExchangeSpec.Transport.UDP;
        }
        return ExchangeSpec.Transport.valueOf(cfg.ps.transport.toUpperCase(Locale.ROOT));
    }

    /** Embedded Spark ({@code local}, {@code local[N]}): the tasks run in the driver's JVM ({@code local-cluster} not). */
    static boolean workersInDriver(String master) {
        return master.startsWith("local") && !master.startsWith("local-cluster");
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

    private static double seconds(long sinceNanos) {
        return (System.nanoTime() - sinceNanos) / 1e9;
    }

    private static double round(double v) {
        return RunSummary.round(v);
    }
}
