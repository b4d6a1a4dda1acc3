package io.lockstep.bench;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.DataLoader;
import io.lockstep.driver.data.MnistFetcher;
import io.lockstep.driver.spark.RankRows;
import io.lockstep.driver.spark.SparkConfs;
import io.lockstep.driver.spark.StartPoint;
import io.lockstep.worker.data.Sample;
import io.lockstep.worker.train.TrainState;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.serializer.KryoSerializer;
import org.apache.spark.serializer.SerializerInstance;
import org.apache.spark.storage.StorageLevel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code lockstep bench-serde}: what Spark's serializer costs Lockstep on MNIST, Java serialization against Kryo
 * (registration required, Lockstep's registrator), in one JVM. For each serializer in turn (alternating, {@code
 * --rounds} Spark contexts each) the 60,000 training rows are loaded and cached, then, {@code --repeats} times:
 * the shuffle by rank that feeds the training stage (bytes Spark wrote to its shuffle files, compressed as by
 * default, and the stage's seconds), the start point's broadcast (what {@code sc.broadcast} of an Adam start point
 * takes on the driver; its serialized bytes), and one serializer round trip of the start point and of one row
 * (what each executor pays to read them). Figures are medians; ratios are Java's over Kryo's. First, a 1M-float
 * vector through Lockstep's bulk float[] serializer and through Kryo's own.
 */
@Command(name = "bench-serde", mixinStandardHelpOptions = true,
    description = "Measure Spark's Java serializer against Kryo on MNIST: the rows' shuffle and the broadcasts.")
public final class SerdeBench implements Callable<Integer> {
    private static final ClassTag<Object> ANY = ClassTag$.MODULE$.apply(Object.class);
    static final String JAVA = "org.apache.spark.serializer.JavaSerializer";
    static final String KRYO = "org.apache.spark.serializer.KryoSerializer";

    @Option(names = "--data-dir", description = "where the MNIST IDX files are (fetched if missing)")
    Path dataDir = Path.of("data", "mnist");

    @Option(names = "--workers", description = "ranks the rows are shuffled to (default: ${DEFAULT-VALUE})")
    int workers = 2;

    @Option(names = "--rounds", description = "Spark contexts per serializer, alternating (default: ${DEFAULT-VALUE})")
    int rounds = 2;

    @Option(names = "--repeats", description = "measurements per context after one warm-up (default: ${DEFAULT-VALUE})")
    int repeats = 5;

    /** One serializer's medians. */
    record Figures(double shuffleBytes, double shuffleSeconds, double broadcastBytes, double broadcastSeconds,
                   double startRoundTripSeconds, double rowBytes, double rowRoundTripMicros) {
    }

    @Override
    public Integer call() throws Exception {
        if (workers < 1 || rounds < 1 || repeats < 1) {
            throw new IllegalArgumentException("--workers, --rounds and --repeats must be >= 1");
        }
        JobConfig job = CpuBench.mnistJob(dataDir).with("workers", workers);
        MnistFetcher.ensure(job.data());
        System.out.printf(Locale.ROOT, "bench-serde: MNIST train (60,000 rows of 784 + 10 floats), %d ranks, MLP"
            + " 784-256-128-10 start point with Adam state; %d contexts per serializer x %d repeats, medians; %d cores%n",
            workers, rounds, repeats, Runtime.getRuntime().availableProcessors());
        floatVector();
        double[][] java = new double[7][rounds * repeats];
        double[][] kryo = new double[7][rounds * repeats];
        for (int r = 0; r < rounds; r++) {
            boolean kryoFirst = r % 2 == 1; // alternating: neither always runs on a cold JVM
            measure(job, kryoFirst ? KRYO : JAVA, kryoFirst ? kryo : java, r);
            measure(job, kryoFirst ? JAVA : KRYO, kryoFirst ? java : kryo, r);
        }
        Figures j = medians(java);
        Figures k = medians(kryo);
        System.out.printf(Locale.ROOT, "%-44s %14s %14s %8s%n", "median", "Java", "Kryo", "Java/Kryo");
        row("shuffle by rank: bytes written", j.shuffleBytes(), k.shuffleBytes(), "%,.0f");
        row("shuffle by rank: seconds", j.shuffleSeconds(), k.shuffleSeconds(), "%.3f");
        row("start point broadcast: bytes serialized", j.broadcastBytes(), k.broadcastBytes(), "%,.0f");
        row("start point broadcast: seconds (driver)", j.broadcastSeconds(), k.broadcastSeconds(), "%.4f");
        row("start point round trip: seconds", j.startRoundTripSeconds(), k.startRoundTripSeconds(), "%.4f");
        row("one row: bytes serialized", j.rowBytes(), k.rowBytes(), "%,.0f");
        row("one row round trip: microseconds", j.rowRoundTripMicros(), k.rowRoundTripMicros(), "%.2f");
        return 0;
    }

    /**
     * A 1M-float vector through Kryo with Lockstep's registrator ({@code BulkFloats}) and through Kryo's own array
     * serializer (a plain KryoSerializer): bytes, and the best of 50 writes and reads into a buffer of its size.
     */
    private static void floatVector() {
        float[] v = new float[1_000_000];
        for (int i = 0; i < v.length; i++) {
            v[i] = i * 0.5f;
        }
        SparkConf base = new SparkConf(false).set("spark.serializer", KRYO);
        Kryo[] kryos = {new KryoSerializer(SparkConfs.kryo(base.clone())).newKryo(), new KryoSerializer(base).newKryo()};
        String[] names = {"float[1M], Lockstep's registrator (BulkFloats)", "float[1M], Kryo's own array serializer"};
        for (int k = 0; k < kryos.length; k++) {
            Output out = new Output(5_000_000);
            long write = Long.MAX_VALUE;
            long read = Long.MAX_VALUE;
            for (int r = 0; r < 50; r++) {
                out.clear();
                long t = System.nanoTime();
                kryos[k].writeObject(out, v);
                write = Math.min(write, System.nanoTime() - t);
                Input in = new Input(out.getBuffer(), 0, out.position());
                t = System.nanoTime();
                kryos[k].readObject(in, float[].class);
                read = Math.min(read, System.nanoTime() - t);
            }
            System.out.printf(Locale.ROOT, "%-48s %,d bytes, write %.2f ms, read %.2f ms (best of 50)%n", names[k],
                out.position(), write / 1e6, read / 1e6);
        }
    }

    private static void row(String what, double java, double kryo, String format) {
        System.out.printf(Locale.ROOT, "%-44s %14s %14s %8.2f%n", what, String.format(Locale.ROOT, format, java),
            String.format(Locale.ROOT, format, kryo), java / kryo);
    }

    private static Figures medians(double[][] m) {
        return new Figures(Bench.median(m[0]), Bench.median(m[1]), Bench.median(m[2]), Bench.median(m[3]),
            Bench.median(m[4]), Bench.median(m[5]), Bench.median(m[6]));
    }

    /** One Spark context with {@code serializer}: its measurements into {@code out}[figure][round * repeats + i]. */
    private void measure(JobConfig job, String serializer, double[][] out, int round) throws Exception {
        JobConfig cfg = job.with("spark.conf.spark.serializer", serializer);
        AtomicLong shuffleBytes = new AtomicLong();
        try (JavaSparkContext sc = new JavaSparkContext(SparkConfs.of(cfg).setAppName("lockstep-bench-serde"))) {
            sc.sc().addSparkListener(new SparkListener() {
                @Override
                public void onTaskEnd(SparkListenerTaskEnd end) {
                    if (end.taskMetrics() != null) {
                        shuffleBytes.addAndGet(end.taskMetrics().shuffleWriteMetrics().bytesWritten());
                    }
                }
            });
            DataLoader.Loaded data = DataLoader.load(sc, cfg);
            JavaRDD<Sample> rows = data.train().persist(StorageLevel.MEMORY_ONLY());
            rows.count(); // read and cached: the shuffles below measure only themselves
            float[] params = new float[235_146];
            java.util.Random random = new java.util.Random(1);
            for (int i = 0; i < params.length; i++) {
                params[i] = (float) (random.nextGaussian() * 0.05);
            }
            StartPoint start = new StartPoint(params, new float[2 * params.length], new TrainState(1).at(844, 1, 0),
                params.clone());
            SerializerInstance ser = SparkEnv.get().serializer().newInstance();
            Sample one = rows.first();
            for (int i = -1; i < repeats; i++) {
                shuffleBytes.set(0);
                long t0 = System.nanoTime();
                long ranks = RankRows.byRank(sc, rows, null, workers).count();
                double shuffleSeconds = (System.nanoTime() - t0) / 1e9;
                sc.sc().listenerBus().waitUntilEmpty();
                if (ranks != workers) {
                    throw new IllegalStateException(ranks + " ranks, expected " + workers);
                }
                long t1 = System.nanoTime();
                Broadcast<StartPoint> b = sc.broadcast(start);
                double broadcastSeconds = (System.nanoTime() - t1) / 1e9;
                b.destroy();
                long t2 = System.nanoTime();
                ByteBuffer bytes = ser.serialize(start, ANY);
                int startBytes = bytes.remaining();
                ser.deserialize(bytes, ANY);
                double roundTrip = (System.nanoTime() - t2) / 1e9;
                int rowBytes = ser.serialize(one, ANY).remaining();
                long t3 = System.nanoTime();
                for (int k = 0; k < 1000; k++) {
                    ser.deserialize(ser.serialize(one, ANY), ANY);
                }
                double rowMicros = (System.nanoTime() - t3) / 1e3 / 1000;
                if (i < 0) {
                    continue; // warm-up
                }
                int at = round * repeats + i;
                double[] values = {shuffleBytes.get(), shuffleSeconds, startBytes, broadcastSeconds, roundTrip, rowBytes,
                    rowMicros};
                for (int f = 0; f < values.length; f++) {
                    out[f][at] = values[f];
                }
                System.out.printf(Locale.ROOT, "[%s %d.%d] shuffle %,d bytes %.3f s; broadcast %,d bytes %.4f s;"
                        + " start round trip %.4f s; row %d bytes %.2f us%n", serializer.endsWith("KryoSerializer")
                        ? "kryo" : "java", round + 1, i + 1, shuffleBytes.get(), shuffleSeconds, startBytes,
                    broadcastSeconds, roundTrip, rowBytes, rowMicros);
            }
        }
    }
}
