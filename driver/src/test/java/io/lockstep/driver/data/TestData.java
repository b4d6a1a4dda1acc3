package io.lockstep.driver.data;

import io.lockstep.driver.config.Task;
import io.lockstep.driver.config.Normalize;
import io.lockstep.driver.config.DataFormat;
import io.lockstep.worker.optim.OptimizerSpec;
import io.lockstep.driver.config.JobConfig;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPInputStream;

/** Real data for the driver tests: sklearn's digits CSV shipped in examples/data. */
public final class TestData {
    public static final Path DIGITS = Path.of("..", "examples", "data", "digits.csv.gz");

    public static List<String> digitsLines() throws IOException {
        try (InputStream in = new GZIPInputStream(Files.newInputStream(DIGITS))) {
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII).lines().toList();
        }
    }

    /** Writes the first {@code trainRows} digits rows to train.csv and the rest to test.csv. */
    public static Path[] digitsSplit(Path dir, int trainRows) throws IOException {
        List<String> lines = digitsLines();
        Path train = dir.resolve("train.csv");
        Path test = dir.resolve("test.csv");
        Files.write(train, lines.subList(0, trainRows));
        Files.write(test, lines.subList(trainRows, lines.size()));
        return new Path[]{train, test};
    }

    /** A job around {@code data} with {@code task} and the default seed. */
    public static JobConfig job(JobConfig.Data data, String task) {
        JobConfig c = JobConfig.defaults()
            .with("data", data)
            .with("task", Task.of(task));
        return c;
    }

    /** A local Spark context for data tests (2 slots, no UI). */
    public static org.apache.spark.api.java.JavaSparkContext sparkContext() {
        JobConfig c = JobConfig.defaults()
            .with("workers", 2)
            .with("spark.conf.spark.ui.enabled", "false");
        return new org.apache.spark.api.java.JavaSparkContext(io.lockstep.driver.spark.SparkConfs.of(c));
    }

    /** A digits CSV job: small MLP, local Spark, outputs under {@code out}. */
    public static JobConfig digitsJob(Path train, Path test, Path out) {
        JobConfig c = JobConfig.defaults()
            .with("data.format", DataFormat.CSV)
            .with("data.train", train.toString())
            .with("data.test", test.toString())
            .with("data.normalize", Normalize.STANDARDIZE)
            .with("model.hidden", List.of(32))
            .with("optimizer.type", OptimizerSpec.Type.ADAM)
            .with("optimizer.lr", 0.01)
            .with("batch_size", 16)
            .with("epochs", 1)
            .with("workers", 2)
            .with("ps.timeout_seconds", 60)
            .with("output.dir", out.toString())
            .with("log_every", 10);
        return c;
    }
}
