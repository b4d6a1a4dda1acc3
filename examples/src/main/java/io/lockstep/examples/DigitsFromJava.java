package io.lockstep.examples;

import io.lockstep.api.Lockstep;
import io.lockstep.api.TrainingConfig;
import io.lockstep.driver.config.Normalize;
import io.lockstep.driver.config.Task;
import io.lockstep.worker.metrics.EvalMetrics;
import io.lockstep.worker.optim.OptimizerSpec;
import io.lockstep.worker.train.StepResult;
import io.lockstep.worker.train.Trainer;
import io.lockstep.worker.train.TrainingListener;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.Serializable;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;

/**
 * Lockstep from a Java pipeline: read sklearn's digits with Spark SQL, split it, train a 2-worker
 * MLP with validation and early stopping, watch it through a listener of our own, and use the
 * returned network. Run it with {@code ./lockstep example [output-dir]}.
 */
public final class DigitsFromJava {

    /** Runs inside every replica; rank 0 prints what the merged validation says. */
    static final class Progress implements TrainingListener, Serializable {
        @Override
        public void onValidationEnd(Trainer trainer, EvalMetrics metrics) {
            if (trainer.rank() == 0) {
                System.out.printf(Locale.ROOT, "[listener] epoch %d: validation accuracy %.4f, loss %.4f%n",
                    trainer.state().epoch(), metrics.metric("accuracy"), metrics.loss());
            }
        }

        @Override
        public void onStepEnd(Trainer trainer, StepResult step) {
            if (trainer.rank() == 0 && step.step() == 0) {
                System.out.printf(Locale.ROOT, "[listener] first step: %d samples, loss %.4f%n", step.globalSamples(),
                    step.loss());
            }
        }
    }

    public static Map<String, Object> run(SparkSession spark, String digitsCsv, String outputDir) {
        // 64 pixel columns and the digit, no header: _c0 .. _c64
        Dataset<Row> digits = spark.read().option("inferSchema", "true").csv(digitsCsv)
            .withColumnRenamed("_c64", "label");
        Column[] pixels = Arrays.stream(digits.columns()).filter(c -> !c.equals("label"))
            .map(c -> functions.col(c).cast("double")).toArray(Column[]::new);
        Dataset<Row> rows = digits.select(functions.array(pixels).as("pixels"),
            functions.col("label").cast("int").as("label"));
        Dataset<Row>[] parts = rows.randomSplit(new double[]{0.7, 0.15, 0.15}, 7);

        TrainingConfig config = TrainingConfig.builder()
            .task(Task.CLASSIFICATION)
            .featuresColumn("pixels")
            .labelColumn("label")
            .normalize(Normalize.STANDARDIZE)
            .workers(2)
            .batchSize(32)
            .epochs(30)
            .hidden(64)
            .optimizer(OptimizerSpec.adam(0.01))
            .earlyStopping("loss", 3)
            .outputDir(outputDir)
            .build();

        Lockstep.Result result = Lockstep.fit(spark, parts[0], parts[1], parts[2], config, new Progress());
        MultiLayerNetwork net = (MultiLayerNetwork) result.network();
        System.out.printf(Locale.ROOT, "trained %,d parameters; stopped: %s; test: %s%n", net.numParams(),
            result.summary().get("stopped_early"), result.summary().get("test"));
        return result.summary();
    }

    public static void main(String[] args) {
        String out = args.length > 0 ? args[0] : "runs/digits-java";
        String csv = args.length > 1 ? args[1] : "examples/data/digits.csv.gz";
        // Kryo with Lockstep's classes registered (Lockstep.fit refuses a Kryo session without them)
        SparkSession spark = SparkSession.builder().appName("lockstep-java-example").master("local[2]")
            .config(Lockstep.sparkConf(new SparkConf()))
            .config("spark.driver.host", "127.0.0.1").config("spark.ui.enabled", "false").getOrCreate();
        try {
            run(spark, csv, out);
        } finally {
            spark.stop();
        }
        System.exit(0); // Spark leaves a non-daemon barrier timer thread behind
    }
}
