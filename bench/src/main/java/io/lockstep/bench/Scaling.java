package io.lockstep.bench;

import io.lockstep.driver.config.StepPlacement;
import io.lockstep.driver.config.Transport;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.MnistFetcher;
import io.lockstep.driver.job.TrainingJob;
import io.lockstep.ps.ExchangeSpec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code lockstep scaling}: the {@link ScalingModel} projected to 8-256 workers on 25 and 100 Gbit/s links
 * for ResNet-50 and BERT-base gradients; with {@code --check}, the same model fitted to this machine's
 * exchange benchmark and compared with real 1-, 2- and 4-worker MNIST runs.
 */
@Command(name = "scaling", mixinStandardHelpOptions = true,
    description = "Project step time and scaling efficiency to 8-256 workers; --check compares the model with runs here.")
public final class Scaling implements Callable<Integer> {
    static final long RESNET50_PARAMS = 25_600_000;
    static final long BERT_BASE_PARAMS = 110_000_000;
    static final long MNIST_MLP_PARAMS = 235_146;

    @Option(names = "--workers", description = "worker counts (default: ${DEFAULT-VALUE})")
    String workers = "8,16,32,64,128,256";

    @Option(names = "--links-gbit", description = "link bandwidths in Gbit/s (default: ${DEFAULT-VALUE})")
    String links = "25,100";

    @Option(names = "--resnet50-ms-per-sample", description = "compute per sample, forward + backward (assumed "
        + "default: ${DEFAULT-VALUE}, ~330 images/s, a V100-class GPU in fp32)")
    double resnetMs = 3.0;

    @Option(names = "--bert-ms-per-sample", description = "compute per sample, sequence 128 (assumed default: "
        + "${DEFAULT-VALUE}, ~200 sequences/s, a V100-class GPU in fp32)")
    double bertMs = 5.0;

    @Option(names = "--batch-per-worker", description = "samples per worker per step (default: ${DEFAULT-VALUE})")
    int batch = 32;

    @Option(names = "--host-gbytes-per-second", description = "what the exchange software moves per host each way "
        + "(default: ${DEFAULT-VALUE}: bench-exchange here, 25M floats, N = 2-8, 2 cores, 2026-11-26)")
    double hostGBytes = 0.5;

    @Option(names = "--latency-us", description = "one-way latency of a message (default: ${DEFAULT-VALUE})")
    double latencyUs = 50;

    @Option(names = "--server-hosts", description = "hosts of a dedicated parameter server (default: ${DEFAULT-VALUE})")
    int serverHosts = 4;

    @Option(names = "--overlap", description = "exchange overlaps compute (default: no, as Lockstep today)")
    boolean overlap;

    @Option(names = "--check", description = "fit the model here (bench-exchange at 1, 2, 4 clients) and compare it "
        + "with MNIST MLP runs of 1, 2 and 4 workers")
    boolean check;

    @Option(names = "--data-dir", description = "MNIST IDX files for --check (fetched if missing)")
    Path dataDir = Path.of("data", "mnist");

    @Option(names = "--transport", description = "transport for --check: udp or ipc (default: ${DEFAULT-VALUE})")
    String transport = "udp";

    @Option(names = "--check-batch", description = "per-worker batch of the --check runs (default: ${DEFAULT-VALUE})")
    int checkBatch = 64;

    @Option(names = "--rounds", description = "interleaved rounds of --check; figures are medians (default: ${DEFAULT-VALUE})")
    int rounds = 3;

    @Option(names = "--out", description = "where --check's training runs write (default: ${DEFAULT-VALUE})")
    Path out = Path.of("runs", "scaling");

    @Override
    public Integer call() throws Exception {
        if (check) {
            check();
        } else {
            System.out.print(projection());
        }
        return 0;
    }

    ScalingModel model(double msPerSample, ScalingModel.Placement placement, double hostRateGBytes) {
        return new ScalingModel(msPerSample / 1e3, batch, hostRateGBytes * 1e9, latencyUs / 1e6, placement, serverHosts,
            overlap);
    }

    /**
     * The projection tables: per model, link and worker count, exchange and efficiency for both
     * placements; first with the software's host rate, then network-bound (software keeps up with any link).
     */
    String projection() {
        return projection(hostGBytes) + "\n" + projection(Double.POSITIVE_INFINITY);
    }

    private String projection(double hostRate) {
        List<Integer> counts = BenchArgs.counts(workers, "--workers");
        List<Integer> gbits = BenchArgs.counts(links, "--links-gbit");
        ScalingModel.Placement d = ScalingModel.Placement.DEDICATED;
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "scaling model: batch %d per worker, %s, latency %.0f us, "
            + "%s compute and exchange, dedicated server on %d hosts or one shard per worker host%n%n",
            batch, Double.isInfinite(hostRate) ? "network-bound (software keeps up with the link)"
                : String.format(Locale.ROOT, "software moves %.2f GB/s per host", hostRate),
            latencyUs, overlap ? "overlapped" : "sequential", serverHosts));
        sb.append("| model | link | workers | compute ms | exchange ms (S=" + serverHosts + ") | efficiency (S="
            + serverHosts + ") | exchange ms (colocated) | efficiency (colocated) |\n|---|---|---|---|---|---|---|---|\n");
        record Net(String name, long params, double msPerSample) { }
        for (Net net : List.of(new Net("ResNet-50", RESNET50_PARAMS, resnetMs), new Net("BERT-base", BERT_BASE_PARAMS, bertMs))) {
            ScalingModel dedicated = model(net.msPerSample(), d, hostRate);
            ScalingModel colocated = model(net.msPerSample(), ScalingModel.Placement.COLOCATED, hostRate);
            for (int g : gbits) {
                double link = ScalingModel.gbit(g);
                for (int n : counts) {
                    sb.append(String.format(Locale.ROOT, "| %s | %d Gbit/s | %d | %.1f | %.1f | %.2f | %.1f | %.2f |%n",
                        net.name(), g, n, dedicated.computeSeconds() * 1e3,
                        dedicated.exchangeSeconds(net.params(), n, link) * 1e3, dedicated.efficiency(net.params(), n, link),
                        colocated.exchangeSeconds(net.params(), n, link) * 1e3, colocated.efficiency(net.params(), n, link)));
                }
            }
        }
        return sb.toString();
    }

    /**
     * Fits latency and host rate to exchanges of the MLP's gradient, 1M and 4M floats with 1, 2 and 4
     * clients here, takes the compute time per sample (data + gradient + update) from the 1-worker MNIST
     * run (every run through the parameter server, {@code ps.local_reduction: false}, with
     * {@code optimizer.step_placement: replica}: the averaging exchange the benchmark times), and compares the model's step time with 1-, 2- and 4-worker runs (per-worker batch fixed, as
     * in the model). All on one host: the server's host is the busiest, it moves N × G each way, and N
     * workers share the cores (compute × max(1, N / cores)). Every figure is the median of
     * {@code --rounds} interleaved rounds (this machine's load drifts between measurements).
     */
    private void check() throws Exception {
        ExchangeSpec.Transport t = BenchArgs.transports(transport, "--transport").get(0);
        if (rounds < 1 || checkBatch < 1) {
            throw new IllegalArgumentException("--rounds and --check-batch must be >= 1");
        }
        int[] ns = {1, 2, 4};
        int[] sizes = {Math.toIntExact(MNIST_MLP_PARAMS), 1_000_000, 4_000_000};
        JobConfig base = mnistJob();
        MnistFetcher.ensure(base.data());
        int cores = Runtime.getRuntime().availableProcessors();
        double[][] exchange = new double[sizes.length * ns.length][rounds];
        double[][] step = new double[ns.length][rounds];
        double[][] exchangeInTraining = new double[ns.length][rounds];
        double[] perSampleRounds = new double[rounds];
        try (ExchangeRun warmUp = new ExchangeRun(t, 2, 1_000_000, 2, ExchangeSpec.DEFAULT_TERM_LENGTH,
            ExchangeSpec.DEFAULT_MTU, 60, 60)) {
            warmUp.stepSeconds(0, 60); // JIT: else the first point of round 1 also times the compiler (33 vs 13 ms)
        }
        for (int r = 0; r < rounds; r++) {
            for (int k = 0; k < sizes.length; k++) {
                for (int i = 0; i < ns.length; i++) {
                    try (ExchangeRun run = new ExchangeRun(t, ns[i], sizes[k], 2, ExchangeSpec.DEFAULT_TERM_LENGTH,
                        ExchangeSpec.DEFAULT_MTU, 40, 40)) {
                        exchange[k * ns.length + i][r] = BenchArgs.median(run.stepSeconds(10, 30));
                    }
                }
            }
            for (int i = 0; i < ns.length; i++) {
                Map<String, Object> summary = train(base, ns[i]);
                long steps = ((Number) summary.get("steps")).longValue();
                step[i][r] = ((Number) summary.get("train_seconds")).doubleValue() / steps;
                @SuppressWarnings("unchecked")
                Map<String, Object> split = (Map<String, Object>) summary.get("time_split_seconds");
                exchangeInTraining[i][r] = ((Number) split.get("exchange")).doubleValue() / steps;
                if (ns[i] == 1) {
                    double busy = ((Number) split.get("data")).doubleValue()
                        + ((Number) split.get("compute")).doubleValue() + ((Number) split.get("apply")).doubleValue();
                    perSampleRounds[r] = busy / steps / checkBatch;
                }
            }
        }
        double[] bytes = new double[exchange.length];
        double[] seconds = new double[exchange.length];
        System.out.printf(Locale.ROOT, "exchange alone (%s, 2 shards; medians of 30 steps, then of %d rounds):%n", t, rounds);
        for (int k = 0; k < sizes.length; k++) {
            for (int i = 0; i < ns.length; i++) {
                int p = k * ns.length + i;
                bytes[p] = (double) ns[i] * sizes[k] * Float.BYTES;
                seconds[p] = BenchArgs.median(exchange[p]);
                System.out.printf(Locale.ROOT, "  %s floats, %d client(s): %.2f ms%n", BenchArgs.floats(sizes[k]), ns[i],
                    seconds[p] * 1e3);
            }
        }
        double[] fit = ScalingModel.fitLatencyAndRate(bytes, seconds);
        double perSample = BenchArgs.median(perSampleRounds);
        System.out.printf(Locale.ROOT, "fit: latency %.0f us one way, host rate %.3f GB/s; compute (data + gradient + "
            + "update) per sample in the 1-worker runs: %.1f us; %d cores%n%n", fit[0] * 1e6, fit[1] / 1e9,
            perSample * 1e6, cores);
        System.out.println("| workers | batch/worker | model step ms | measured step ms | model/measured "
            + "| model exchange ms | exchange alone ms | exchange in training ms (rank 0) |\n|---|---|---|---|---|---|---|---|");
        for (int i = 0; i < ns.length; i++) {
            int n = ns[i];
            ScalingModel local = new ScalingModel(perSample * Math.max(1.0, n / (double) cores), checkBatch, fit[1],
                fit[0], ScalingModel.Placement.DEDICATED, 1, false);
            double model = local.stepSeconds(MNIST_MLP_PARAMS, n, Double.POSITIVE_INFINITY);
            double measured = BenchArgs.median(step[i]);
            System.out.printf(Locale.ROOT, "| %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |%n", n, checkBatch,
                model * 1e3, measured * 1e3, model / measured,
                local.exchangeSeconds(MNIST_MLP_PARAMS, n, Double.POSITIVE_INFINITY) * 1e3, seconds[i] * 1e3,
                BenchArgs.median(exchangeInTraining[i]) * 1e3);
        }
    }

    private JobConfig mnistJob() {
        JobConfig c = CpuBench.mnistJob(dataDir)
            .with("epochs", 1)
            .with("shuffle", true)
            .with("ps.transport", Transport.parse(transport));
        // what the model describes and bench-exchange measures: every worker's gradient through the
        // parameter server (no in-JVM reduction first), averages back, each replica applying the step
        c = c.with("ps.local_reduction", false)
            .with("optimizer.step_placement", StepPlacement.REPLICA)
            .with("log_every", 1_000_000);
        return c;
    }

    private Map<String, Object> train(JobConfig base, int n) throws Exception {
        base = base.with("workers", n)
            .with("batch_size", checkBatch)
            .with("ps.shards", 2)
            .with("spark.master", "local[" + n + "]")
            .with("output.dir", out.resolve("workers-" + n).toString());
        return TrainingJob.run(base);
    }
}
