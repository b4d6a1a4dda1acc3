package io.lockstep.api;

import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.DataLoader;
import io.lockstep.driver.job.TrainingJob;
import io.lockstep.driver.kryo.Unregistered;
import io.lockstep.driver.output.RunOutputs;
import io.lockstep.driver.spark.SparkConfs;
import io.lockstep.worker.cpu.NativeBuild;
import io.lockstep.worker.train.TrainingListener;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.api.Model;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Lockstep from Java: synchronous data-parallel training of a DL4J network on the datasets of a
 * running Spark application, for pipelines and custom loops.
 *
 * <pre>{@code
 * Lockstep.Result result = Lockstep.fit(spark, train, validation, config, myListener);
 * MultiLayerNetwork net = (MultiLayerNetwork) result.network();
 * }</pre>
 *
 * Features come from {@code data.features_column} (an ML Vector or a numeric array column) or the
 * numeric columns ({@code data.feature_columns}, default: all but the label), the label from
 * {@code data.label_column} (default {@code label}). Listeners run inside every replica (on the
 * executors), so they must be serializable; outputs (model.zip, metrics.jsonl, summary.json) go to
 * {@code output.dir} as for a CLI job.
 */
public final class Lockstep {
    static {
        NativeBuild.select(); // the AVX2 or the generic natives, before this JVM's first ND4J use (if it is the first)
    }

    private Lockstep() {
    }

    /** The trained network (the best parameters by the watched metric, else the last) and the run's summary. */
    public record Result(Model network, Map<String, Object> summary) {
    }

    /**
     * {@code conf} with the serializer Lockstep runs best with, for building the application's Spark session:
     * Kryo with registration required (each unless {@code conf} already sets it) and Lockstep's Kryo registrator
     * after any of the application's own ({@code spark.kryo.registrator} is a comma-separated list). A session
     * that serializes with Kryo must have Lockstep's registrator: {@code fit} refuses one that does not.
     *
     * <pre>{@code
     * SparkSession spark = SparkSession.builder().config(Lockstep.sparkConf(new SparkConf())).getOrCreate();
     * }</pre>
     */
    public static SparkConf sparkConf(SparkConf conf) {
        return SparkConfs.kryo(conf);
    }

    public static Result fit(SparkSession spark, Dataset<Row> train, Dataset<Row> validation, TrainingConfig config,
                             TrainingListener... listeners) {
        return fit(spark, train, validation, null, config, listeners);
    }

    /** As {@link #fit(SparkSession, Dataset, Dataset, TrainingConfig, TrainingListener...)}, also evaluated on {@code test}. */
    public static Result fit(SparkSession spark, Dataset<Row> train, Dataset<Row> validation, Dataset<Row> test,
                             TrainingConfig config, TrainingListener... listeners) {
        long start = System.nanoTime();
        JobConfig cfg = config.toJobConfig();
        SparkConfs.requireRegistrator(spark.sparkContext().getConf());
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        RunOutputs outputs;
        try {
            outputs = new RunOutputs(Path.of(cfg.output().dir()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try {
            DataLoader.Loaded data = DataLoader.fromDatasets(train, validation, test, cfg.data(), cfg.task(), cfg.seed());
            TrainingJob.Result r = TrainingJob.train(cfg, sc, data, outputs, List.of(listeners), start);
            return new Result(r.network(), r.summary());
        } catch (IOException e) {
            outputs.discard();
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            outputs.discard(); // this run's temporary files; an earlier run's outputs stay as they were
            throw Unregistered.explained(e);
        }
    }
}
