package io.lockstep.bench;

import io.lockstep.driver.config.DataFormat;
import io.lockstep.worker.optim.OptimizerSpec;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.MnistFetcher;
import io.lockstep.driver.job.ModelSetup;
import io.lockstep.worker.cpu.NativeBuild;
import io.lockstep.worker.data.Batch;
import io.lockstep.worker.data.BatchSource;
import io.lockstep.worker.data.DataPartition;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.GradientUpdater;
import org.nd4j.linalg.learning.config.Adam;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code lockstep bench-cpu}: what the native build and the JVM/JavaCPP settings do to one training
 * step of the MNIST MLP (784-256-128-10, Adam, plain DL4J {@code fit}). These settings are fixed per
 * JVM, so every variant runs in a JVM of its own; rounds run the variants in rotated order against
 * drift, and the table gives the median over rounds of each JVM's median step time: wall time, and
 * the CPU time of the training thread (with OMP_NUM_THREADS=1 the ops run on it), which other
 * processes on a shared machine disturb far less than wall time. GC threads' CPU is not in it.
 */
@Command(name = "bench-cpu", mixinStandardHelpOptions = true,
    description = "Time an MNIST MLP step under each native build and JVM setting, one JVM per variant and round.")
public final class CpuBench implements Callable<Integer> {
    private static final String RESULT = "cpubench ms_per_step=";
    private static final String CPU = " cpu_ms_per_step=";
    private static final String ADAM = " adam_cpu_ms=";
    private static final String EXT = "-D" + NativeBuild.EXTENSION_PROPERTY + "=";
    private static final String NO_STATM = "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0";

    /** A JVM setting under test: its command-line options and OMP_NUM_THREADS. */
    record Variant(String name, List<String> options, int ompThreads) {
    }

    static final List<Variant> VARIANTS = List.of(
        new Variant("generic", List.of(EXT), 1),
        new Variant("avx2", List.of(EXT + "-avx2"), 1),
        new Variant("avx2 + maxPhysicalBytes=0", List.of(EXT + "-avx2", NO_STATM), 1),
        new Variant("avx2 + -Xms4g -XX:+AlwaysPreTouch", List.of(EXT + "-avx2", "-Xms4g", "-XX:+AlwaysPreTouch"), 1),
        new Variant("avx2 + maxPhysicalBytes=0 + -Xms4g -XX:+AlwaysPreTouch",
            List.of(EXT + "-avx2", NO_STATM, "-Xms4g", "-XX:+AlwaysPreTouch"), 1),
        new Variant("avx2, OMP_NUM_THREADS=2", List.of(EXT + "-avx2"), 2));

    @Option(names = "--data-dir", description = "where the MNIST IDX files are (fetched if missing)")
    Path dataDir = Path.of("data", "mnist");

    @Option(names = "--rounds", description = "JVMs per variant")
    int rounds = 5;

    @Option(names = "--batch")
    int batch = 128;

    @Option(names = "--warmup", description = "steps before timing")
    int warmup = 200;

    @Option(names = "--windows", description = "timed windows of --window steps; a JVM reports its median window")
    int windows = 10;

    @Option(names = "--window")
    int window = 50;

    @Option(names = "--variants", split = ",", description = "indices into the variant list (default: all)")
    List<Integer> only;

    @Override
    public Integer call() throws Exception {
        MnistFetcher.ensure(mnistJob(dataDir).data());
        List<Variant> variants = only == null ? VARIANTS : only.stream().map(VARIANTS::get).toList();
        System.out.printf(Locale.ROOT, "bench-cpu: MNIST MLP 784-256-128-10, Adam, batch %d, plain DL4J fit; %d rounds"
            + " x %d JVMs; per JVM %d warm-up steps, median of %d windows of %d steps; %d cores%n", batch, rounds,
            variants.size(), warmup, windows, window, Runtime.getRuntime().availableProcessors());
        double[][] wall = new double[variants.size()][rounds];
        double[][] cpu = new double[variants.size()][rounds];
        double[][] adam = new double[variants.size()][rounds];
        for (int r = 0; r < rounds; r++) {
            for (int k = 0; k < variants.size(); k++) {
                int v = (k + r) % variants.size(); // rotated: no variant always runs first or after the same one
                double[] t = child(variants.get(v));
                wall[v][r] = t[0];
                cpu[v][r] = t[1];
                adam[v][r] = t[2];
                System.out.printf(Locale.ROOT, "[%d] %-58s %7.3f ms/step, %7.3f ms CPU, Adam op %6.3f ms CPU%n", r + 1,
                    variants.get(v).name(), t[0], t[1], t[2]);
            }
        }
        System.out.printf(Locale.ROOT, "%-58s %9s %9s %8s %9s %9s %8s %9s%n", "variant (median over rounds)", "ms/step",
            "min", "vs first", "CPU ms", "min", "vs first", "Adam op");
        for (int v = 0; v < variants.size(); v++) {
            double w = Bench.median(wall[v]);
            double c = Bench.median(cpu[v]);
            System.out.printf(Locale.ROOT, "%-58s %9.3f %9.3f %+7.1f%% %9.3f %9.3f %+7.1f%% %9.3f%n", variants.get(v).name(),
                w, Arrays.stream(wall[v]).min().orElse(0), (w / Bench.median(wall[0]) - 1) * 100,
                c, Arrays.stream(cpu[v]).min().orElse(0), (c / Bench.median(cpu[0]) - 1) * 100, Bench.median(adam[v]));
        }
        return 0;
    }

    /** One variant in a JVM of its own: its median wall and training-thread CPU ms per step, and of one Adam op. */
    private double[] child(Variant v) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(v.options());
        command.addAll(List.of("-Xmx8g", "-cp", System.getProperty("java.class.path"), Child.class.getName(),
            dataDir.toString(), String.valueOf(batch), String.valueOf(warmup), String.valueOf(windows),
            String.valueOf(window)));
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().put("OMP_NUM_THREADS", String.valueOf(v.ompThreads()));
        Path log = Files.createTempFile("lockstep-bench-cpu", ".log");
        try {
            Process p = pb.redirectOutput(log.toFile()).start();
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new IllegalStateException(v.name() + ": the JVM did not finish within 10 minutes");
            }
            String out = Files.readString(log);
            Matcher m = Pattern.compile(Pattern.quote(RESULT) + "(\\S+)" + Pattern.quote(CPU) + "(\\S+)"
                + Pattern.quote(ADAM) + "(\\S+)").matcher(out);
            if (p.exitValue() != 0 || !m.find()) {
                throw new IllegalStateException(v.name() + ": the JVM failed (exit " + p.exitValue() + "):\n" + out);
            }
            return new double[]{Double.parseDouble(m.group(1)), Double.parseDouble(m.group(2)),
                Double.parseDouble(m.group(3))};
        } finally {
            Files.deleteIfExists(log);
        }
    }

    static JobConfig mnistJob(Path dataDir) {
        JobConfig c = JobConfig.defaults()
            .with("data.format", DataFormat.IDX)
            .with("data.train", dataDir.resolve("train-images-idx3-ubyte").toString())
            .with("data.test", dataDir.resolve("t10k-images-idx3-ubyte").toString())
            .with("data.download", "mnist")
            .with("model.hidden", List.of(256, 128))
            .with("optimizer.type", OptimizerSpec.Type.ADAM)
            .with("optimizer.lr", 1e-3);
        return c;
    }

    /** The timed JVM: args data-dir, batch, warm-up steps, windows, steps per window. */
    public static final class Child {
        private Child() {
        }

        public static void main(String[] args) throws Exception {
            NativeBuild.select();
            JobConfig c = mnistJob(Path.of(args[0]));
            int batch = Integer.parseInt(args[1]);
            int warmup = Integer.parseInt(args[2]);
            int windows = Integer.parseInt(args[3]);
            int window = Integer.parseInt(args[4]);
            DataPartition train = DataPartition.of(Bench.mnistSamples(c.data().train()).iterator(), 784, 10);
            int steps = train.size() / batch;
            MultiLayerNetwork net = (MultiLayerNetwork) ModelSetup.build(c, 784, new int[]{28, 28, 1}, 10,
                "classification", warmup + (long) windows * window).network().dl4j();
            double[] ms = new double[windows];
            double[] cpuMs = new double[windows];
            ThreadMXBean threads = ManagementFactory.getThreadMXBean();
            try (BatchSource batches = new BatchSource(train, batch, steps, c.seed(), true, 0)) {
                for (int s = 0; s < warmup; s++) {
                    step(net, batches.next());
                }
                for (int w = 0; w < windows; w++) {
                    long t0 = System.nanoTime();
                    long c0 = threads.getCurrentThreadCpuTime();
                    for (int s = 0; s < window; s++) {
                        step(net, batches.next());
                    }
                    cpuMs[w] = (threads.getCurrentThreadCpuTime() - c0) / 1e6 / window;
                    ms[w] = (System.nanoTime() - t0) / 1e6 / window;
                }
            }
            System.out.println(RESULT + Bench.median(ms) + CPU + Bench.median(cpuMs) + ADAM + adamOp(net, threads) + " build=" + NativeBuild.loadedLibrary()
                .map(NativeBuild::platformOf).orElse("?"));
            System.exit(0); // ND4J's threads
        }

        /**
         * CPU ms of libnd4j's Adam op over the network's parameter count, the median of 50 after 20
         * warm-up calls: the op the AVX2 build vectorises (a scalar loop in the generic one).
         */
        private static double adamOp(MultiLayerNetwork net, ThreadMXBean threads) {
            long n = net.numParams();
            GradientUpdater<?> adam = new Adam(1e-3).instantiate(Nd4j.zeros(DataType.FLOAT, 1, 2 * n), true);
            INDArray gradient = Nd4j.rand(DataType.FLOAT, 1, n);
            double[] ms = new double[50];
            for (int i = -20; i < ms.length; i++) {
                long c0 = threads.getCurrentThreadCpuTime();
                adam.applyUpdater(gradient, Math.max(i, 0), 0);
                if (i >= 0) {
                    ms[i] = (threads.getCurrentThreadCpuTime() - c0) / 1e6;
                }
            }
            return Bench.median(ms);
        }

        private static void step(MultiLayerNetwork net, Batch b) {
            net.fit(new DataSet(b.features(), b.labels()));
        }
    }
}
