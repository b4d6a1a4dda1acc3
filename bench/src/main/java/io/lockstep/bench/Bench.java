package io.lockstep.bench;

import io.lockstep.worker.train.Every;
import io.lockstep.driver.config.StepPlacement;
import io.lockstep.driver.config.Transport;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.DataLoader;
import io.lockstep.driver.data.IdxFile;
import io.lockstep.driver.data.MnistFetcher;
import io.lockstep.driver.job.ModelSetup;
import io.lockstep.driver.job.TrainingJob;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.lockstep.worker.data.Batch;
import io.lockstep.worker.data.BatchSource;
import io.lockstep.worker.data.Sample;
import io.lockstep.worker.data.DataPartition;
import io.lockstep.worker.metrics.EvalMetrics;
import io.lockstep.worker.train.StepTimes;
import io.lockstep.worker.train.Trainer;
import io.lockstep.worker.train.TrainerOptions;
import io.lockstep.worker.train.TrainingListener;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.dataset.DataSet;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.DataInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * One epoch of the MNIST MLP several ways in one process: (a) plain single-process DL4J
 * {@code fit} at the global batch, (d) N independent {@code fit} loops in N threads with nothing
 * exchanged (the most N replicas can get from this machine), (b) Lockstep with 1 worker, (c)
 * Lockstep with N workers at the same global batch. Prints samples/s (training loop only, set-up
 * excluded) and the ratios to (a).
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
    description = "Benchmark plain DL4J fit against Lockstep with 1 and N workers on MNIST.")
public final class Bench implements Callable<Integer> {
    @Option(names = "--data-dir", description = "where the MNIST IDX files are (fetched if missing)")
    Path dataDir = Path.of("data", "mnist");

    @Option(names = "--global-batch", description = "samples per step across all workers")
    int globalBatch = 128;

    @Option(names = "--workers", description = "workers of run (c)")
    int workers = 2;

    @Option(names = "--epochs")
    int epochs = 1;

    @Option(names = "--transport", description = "auto (ipc here), udp or ipc")
    String transport = "auto";

    @Option(names = {"--step-placement", "--placement"},
        description = "where Lockstep's optimizer step runs, as optimizer.step_placement: server or replica")
    String placement = "server";

    @Option(names = "--target-accuracy", description = "also time (a) and (c) to this MNIST test accuracy; 0: skip")
    double targetAccuracy = 0.975;

    @Option(names = "--max-epochs", description = "give up the time-to-accuracy runs after this many epochs")
    int maxEpochs = 8;

    @Option(names = "--repeat", description = "rounds of all runs; figures are the medians (single runs vary)")
    int repeat = 1;

    @Option(names = "--warmup", description = "unmeasured rounds of all runs first: plain fit with 2 native threads"
        + " ran at about 20k samples/s in its first round and 34k from its third (default: ${DEFAULT-VALUE})")
    int warmup = 2;

    @Option(names = "--out", description = "where run outputs and bench.json go")
    Path out = Path.of("runs", "bench");

    @Override
    public Integer call() throws Exception {
        JobConfig base = mnistJob();
        MnistFetcher.ensure(base.data());
        String omp = System.getenv().getOrDefault("OMP_NUM_THREADS", "(unset)");
        System.out.printf(Locale.ROOT, "bench: MNIST MLP 784-256-128-10, Adam 1e-3, global batch %d, %d epoch(s), "
            + "OMP_NUM_THREADS=%s, %d cores%n", globalBatch, epochs, omp, Runtime.getRuntime().availableProcessors());

        List<Sample> mnist = mnistSamples(base.data().train());
        double[][] rounds = new double[4][repeat]; // (a), (d), (b), (c) per round, interleaved against drift
        double[][] byThreads = new double[2][repeat]; // (a) at 1 and at 2 native threads
        if (warmup < 0 || repeat < 1) {
            throw new IllegalArgumentException("--warmup must be >= 0 and --repeat >= 1");
        }
        double[] run = new double[6]; // one round: (a) 1 thread, (a) 2 threads, (a), (d), (b), (c)
        for (int w = 0; w < warmup; w++) {
            round(base, mnist, -1 - w, run); // thrown away: the JIT and native libraries warm up
        }
        for (int r = 0; r < repeat; r++) {
            round(base, mnist, r, run);
            byThreads[0][r] = run[0];
            byThreads[1][r] = run[1];
            for (int k = 0; k < 4; k++) {
                rounds[k][r] = run[2 + k];
            }
        }
        double plain = median(rounds[0]);
        double ceiling = median(rounds[1]);
        double one = median(rounds[2]);
        double many = median(rounds[3]);
        if (repeat > 1) {
            System.out.printf(Locale.ROOT, "medians of %d rounds: (a) %,.0f  (d) %,.0f  (b) %,.0f  (c) %,.0f samples/s%n",
                repeat, plain, ceiling, one, many);
        }
        System.out.printf(Locale.ROOT, "(c)/(a) = %.3f   (b)/(a) = %.3f   (d)/(a) = %.3f   (c)/(d) = %.3f%n",
            many / plain, one / plain, ceiling / plain, many / ceiling);
        int bestThreads = median(byThreads[1]) > median(byThreads[0]) ? 2 : 1;

        Map<String, Object> result = new LinkedHashMap<>();
        result.put("global_batch", globalBatch);
        result.put("epochs", epochs);
        result.put("omp_num_threads", omp);
        result.put("transport", transport);
        result.put("rounds", repeat);
        result.put("warmup_rounds", warmup);
        result.put("plain_fit_samples_per_second", Math.round(plain));
        result.put("lockstep_1_worker_samples_per_second", Math.round(one));
        result.put("lockstep_" + workers + "_workers_samples_per_second", Math.round(many));
        result.put("ratio_c_over_a", Math.round(many / plain * 1000) / 1000.0);
        result.put("ratio_b_over_a", Math.round(one / plain * 1000) / 1000.0);
        result.put("no_exchange_" + workers + "_threads_samples_per_second", Math.round(ceiling));
        result.put("ratio_d_over_a", Math.round(ceiling / plain * 1000) / 1000.0);
        result.put("ratio_c_over_d", Math.round(many / ceiling * 1000) / 1000.0);
        result.put("plain_fit_1_thread_samples_per_second", Math.round(median(byThreads[0])));
        result.put("plain_fit_2_threads_samples_per_second", Math.round(median(byThreads[1])));
        result.put("placement", placement);
        if (targetAccuracy > 0) {
            NativeThreads.set(bestThreads);
            double plainSeconds = plainTimeTo(base, mnist, targetAccuracy);
            NativeThreads.set(1);
            System.out.printf(Locale.ROOT, "time to %.3f test accuracy: (a) plain fit (%d thread%s) %s%n", targetAccuracy,
                bestThreads, bestThreads > 1 ? "s" : "", seconds(plainSeconds));
            double lockstepSeconds = lockstepTimeTo(base, workers, targetAccuracy);
            System.out.printf(Locale.ROOT, "time to %.3f test accuracy: (c) lockstep %d workers %s%n", targetAccuracy,
                workers, seconds(lockstepSeconds));
            result.put("target_accuracy", targetAccuracy);
            result.put("plain_seconds_to_target", plainSeconds);
            result.put("lockstep_seconds_to_target", lockstepSeconds);
        }
        Files.createDirectories(out);
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(out.resolve("bench.json").toFile(),
            result);
        return 0;
    }

    private static String seconds(double s) {
        return Double.isNaN(s) ? "not reached" : String.format(Locale.ROOT, "%.1f s of training", s);
    }

    /** One round of every run, in order; {@code round} < 0: a warm-up round. */
    private void round(JobConfig base, List<Sample> mnist, int round, double[] out) throws Exception {
        // (a) is the better of 1 and 2 native threads: one process may use both cores for its matmuls
        for (int t = 1; t <= 2; t++) {
            NativeThreads.set(t);
            out[t - 1] = fit(base, List.of(mnist), globalBatch);
            report(round, "(a) plain DL4J fit, " + t + " native thread" + (t > 1 ? "s" : ""), out[t - 1]);
        }
        NativeThreads.set(1);
        out[2] = Math.max(out[0], out[1]);
        out[3] = fit(base, strided(mnist, workers), globalBatch / workers);
        report(round, "(d) " + workers + " x DL4J fit in " + workers + " threads, no exchange (ceiling for c)", out[3]);
        out[4] = lockstep(base, 1);
        report(round, "(b) lockstep 1 worker", out[4]);
        out[5] = lockstep(base, workers);
        report(round, "(c) lockstep " + workers + " workers", out[5]);
    }

    private void report(int round, String run, double samplesPerSecond) {
        String tag = round < 0 ? "[warm-up " + (-round) + "] " : repeat > 1 ? "[" + (round + 1) + "] " : "";
        System.out.printf(Locale.ROOT, "%s%-62s %,10.0f samples/s%n", tag, run, samplesPerSecond);
    }

    static double median(double[] values) {
        double[] v = values.clone();
        java.util.Arrays.sort(v);
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    private JobConfig mnistJob() {
        JobConfig c = CpuBench.mnistJob(dataDir)
            .with("epochs", epochs)
            .with("shuffle", true)
            .with("ps.transport", Transport.parse(transport))
            .with("log_every", 1_000_000);
        return c;
    }

    /** The MNIST images of an IDX file (and its labels file beside it) as samples, labels one-hot. */
    static List<Sample> mnistSamples(String imagesPath) throws IOException {
        List<Sample> samples = new ArrayList<>();
        Path images = Path.of(imagesPath);
        Path labels = Path.of(DataLoader.labelsPathFor(imagesPath));
        try (DataInputStream xs = new DataInputStream(Files.newInputStream(images));
             DataInputStream ys = new DataInputStream(Files.newInputStream(labels))) {
            Iterator<float[]> x = IdxFile.images(xs, images.toString());
            Iterator<Integer> y = IdxFile.labels(ys, labels.toString());
            while (x.hasNext() && y.hasNext()) {
                samples.add(new Sample(samples.size(), x.next(), DataLoader.oneHot(y.next(), 10, labels.toString(), "")));
            }
        }
        return samples;
    }

    /** Rows r, r+n, r+2n, ...: the shards Lockstep's workers get. */
    private static List<List<Sample>> strided(List<Sample> all, int n) {
        List<List<Sample>> shards = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            List<Sample> mine = new ArrayList<>();
            for (int i = r; i < all.size(); i += n) {
                mine.add(all.get(i));
            }
            shards.add(mine);
        }
        return shards;
    }

    /**
     * (a) with one shard: DL4J's own fit loop over the same model, batches and shuffle as
     * Lockstep. (d) with N shards: N independent fit loops in N threads, nothing exchanged:
     * what this machine's cores give N replicas before any communication.
     */
    private double fit(JobConfig c, List<List<Sample>> shards, int batch) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(shards.size());
        CountDownLatch ready = new CountDownLatch(shards.size());
        CountDownLatch go = new CountDownLatch(1);
        List<Future<Long>> trained = new ArrayList<>();
        for (List<Sample> samples : shards) {
            trained.add(pool.submit(() -> {
                DataPartition shard = DataPartition.of(samples.iterator(), 784, 10);
                int steps = TrainerOptions.stepsPerEpoch(shard.size(), batch, 1);
                MultiLayerNetwork net = (MultiLayerNetwork) ModelSetup.build(c, 784, new int[]{28, 28, 1}, 10, "classification",
                    (long) steps * epochs).network().dl4j();
                long n = 0;
                try (BatchSource batches = new BatchSource(shard, batch, steps, c.seed(), true, 0)) {
                    ready.countDown();
                    go.await();
                    for (int s = 0; s < steps * epochs; s++) {
                        Batch b = batches.next();
                        net.fit(new DataSet(b.features(), b.labels()));
                        n += b.size();
                    }
                }
                return n;
            }));
        }
        ready.await();
        long start = System.nanoTime();
        go.countDown();
        long samples = 0;
        for (Future<Long> f : trained) {
            samples += f.get();
        }
        pool.shutdown();
        return samples / ((System.nanoTime() - start) / 1e9);
    }

    private double lockstep(JobConfig base, int n) throws IOException {
        configure(base, n, "lockstep-" + n);
        Map<String, Object> summary = TrainingJob.run(base);
        return ((Number) summary.get("samples_per_second")).doubleValue();
    }

    /** Lockstep with {@code n} workers at the global batch, on embedded Spark, writing to {@code outName}. */
    private void configure(JobConfig base, int n, String outName) {
        base = base.with("workers", n)
            .with("batch_size", globalBatch / n)
            .with("ps.shards", Math.min(2, n))
            .with("spark.master", "local[" + n + "]")
            .with("output.dir", out.resolve(outName).toString())
            .with("optimizer.step_placement", StepPlacement.parse(placement));
    }

    /**
     * Seconds of training (validation excluded) until plain DL4J fit reaches {@code target} test accuracy,
     * checked every quarter epoch; NaN if not within {@code maxEpochs}.
     */
    private double plainTimeTo(JobConfig c, List<Sample> train, double target) throws Exception {
        DataSet test = testSet(c);
        DataPartition shard = DataPartition.of(train.iterator(), 784, 10);
        int steps = TrainerOptions.stepsPerEpoch(shard.size(), globalBatch, 1);
        MultiLayerNetwork net = (MultiLayerNetwork) ModelSetup.build(c, 784, new int[]{28, 28, 1}, 10, "classification",
            (long) steps * maxEpochs).network().dl4j();
        int checkEvery = Math.max(1, steps / 4);
        long trainingNs = 0;
        try (BatchSource batches = new BatchSource(shard, globalBatch, steps, c.seed(), true, 0)) {
            for (int s = 1; s <= steps * maxEpochs; s++) {
                Batch b = batches.next();
                long t0 = System.nanoTime();
                net.fit(new DataSet(b.features(), b.labels()));
                trainingNs += System.nanoTime() - t0;
                if (s % checkEvery == 0) {
                    org.nd4j.evaluation.classification.Evaluation e = new org.nd4j.evaluation.classification.Evaluation(10);
                    e.eval(test.getLabels(), net.output(test.getFeatures(), false));
                    if (e.accuracy() >= target) {
                        return trainingNs / 1e9;
                    }
                }
            }
        }
        return Double.NaN;
    }

    /** The same for Lockstep with {@code n} workers: the test set as validation, every quarter epoch. */
    private double lockstepTimeTo(JobConfig base, int n, double target) throws Exception {
        configure(base, n, "lockstep-target-" + n);
        base = base.with("epochs", maxEpochs)
            .with("data.validation", base.data().test());
        base = base.with("validation.every", new Every(Math.max(1, TrainerOptions.stepsPerEpoch(60_000 / n, base.batchSize(), 1) / 4),
            Every.Unit.STEPS));
        TargetReached.reset();
        TrainingJob.run(base, List.of(new TargetReached(target)));
        base = base.with("epochs", epochs)
            .with("data.validation", null);
        return TargetReached.seconds();
    }

    private static DataSet testSet(JobConfig c) throws IOException {
        List<Sample> test = mnistSamples(c.data().test());
        float[][] xs = new float[test.size()][];
        float[][] ys = new float[test.size()][];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = test.get(i).features();
            ys[i] = test.get(i).labels();
        }
        return new DataSet(org.nd4j.linalg.factory.Nd4j.create(xs), org.nd4j.linalg.factory.Nd4j.create(ys));
    }

    /**
     * Stops every replica at the first validation reaching the target and notes rank 0's training time
     * (data, compute, exchange, apply: validation excluded). In-process (embedded Spark), so a static holds it.
     */
    static final class TargetReached implements TrainingListener, java.io.Serializable {
        private static volatile double reachedSeconds = Double.NaN;
        private final double target;

        TargetReached(double target) {
            this.target = target;
        }

        static void reset() { reachedSeconds = Double.NaN; }
        static double seconds() { return reachedSeconds; }

        @Override
        public void onValidationEnd(Trainer trainer, EvalMetrics metrics) {
            if (metrics.metric("accuracy") >= target && !trainer.stopRequested()) {
                if (trainer.rank() == 0) {
                    StepTimes t = trainer.times();
                    reachedSeconds = t.data() + t.compute() + t.exchange() + t.apply();
                }
                trainer.requestStop("reached " + target + " test accuracy");
            }
        }
    }
}
