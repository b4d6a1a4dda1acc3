package io.lockstep.driver.data;

import io.lockstep.driver.config.Task;
import io.lockstep.driver.config.Normalize;
import io.lockstep.driver.config.DataFormat;
import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.ConfigRules;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.worker.data.Sample;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

import java.util.ArrayList;
import java.util.List;

/**
 * Reads the train, validation and test splits with Spark into {@link Sample}s: IDX image/label
 * pairs, numeric CSV, Parquet or LibSVM files, or Spark datasets handed in directly. Labels are
 * checked and encoded for the task (one-hot class indices, 0/1, or real targets); the validation
 * split is a file or a seeded share of the training rows; features are scaled as configured,
 * with the scaling fitted on the training split only. Every split is numbered 0..n-1. Bad input
 * fails on one line naming the file and line (or row, or item) and column, or the config key.
 */
public final class DataLoader {
    private DataLoader() {
    }

    /**
     * The loaded splits. {@code validation} is null (and {@code validationCount} 0) without a
     * validation split, {@code test} likewise when none was given ({@link #fromDatasets} only).
     * {@code outputs}: width of the label vectors (classes for classification, 1 for binary and
     * regression); {@code classes}: k for classification, 2 for binary, 0 for regression.
     */
    public record Loaded(Task task, JavaRDD<Sample> train, JavaRDD<Sample> validation, JavaRDD<Sample> test,
                         long trainCount, long validationCount, long testCount,
                         int features, int outputs, int classes, FeatureScaling scaling) {
    }

    /** Loads the files of {@code job.data()} for {@code job.task()}; {@code job.seed()} picks a validation_fraction split. */
    public static Loaded load(JavaSparkContext sc, JobConfig job) {
        JobConfig.Data cfg = job.data();
        Task task = job.task();
        ConfigRules.validateData(cfg, task);
        if (cfg.train() == null || cfg.test() == null) {
            throw new ConfigLoader.ConfigException("config key '" + (cfg.train() == null ? "data.train" : "data.test")
                + "' is required");
        }
        switch (cfg.format()) {
            case IDX: {
                IdxReader r = new IdxReader(sc, task, task == Task.CLASSIFICATION ? cfg.classes() : null);
                Part train = r.read(cfg.train(), cfg.trainLabels());
                Part validation = cfg.validation() == null ? null : r.read(cfg.validation(), cfg.validationLabels());
                Part test = r.read(cfg.test(), cfg.testLabels());
                return assemble(train, validation, test, r.features(), task, cfg, job.seed(), true);
            }
            case CSV: {
                CsvReader r = new CsvReader(sc, cfg, task);
                Part train = r.read(cfg.train());
                Part validation = cfg.validation() == null ? null : r.read(cfg.validation());
                return assemble(train, validation, r.read(cfg.test()), r.features(), task, cfg, job.seed(), false);
            }
            case LIBSVM: {
                List<String> paths = new ArrayList<>(List.of(cfg.train()));
                if (cfg.validation() != null) {
                    paths.add(cfg.validation());
                }
                paths.add(cfg.test());
                LibSvmReader r = new LibSvmReader(sc, cfg.features(), task,
                    task == Task.CLASSIFICATION ? cfg.classes() : null, paths);
                Part train = r.read(cfg.train());
                Part validation = cfg.validation() == null ? null : r.read(cfg.validation());
                return assemble(train, validation, r.read(cfg.test()), r.features(), task, cfg, job.seed(), false);
            }
            default: { // parquet
                SparkSession spark = session(sc);
                Dataset<Row> trainData = parquet(spark, cfg.train());
                DatasetReader r = new DatasetReader(trainData, cfg.train(), cfg, task);
                Part train = r.read(trainData, cfg.train());
                Part validation = cfg.validation() == null ? null : r.read(parquet(spark, cfg.validation()), cfg.validation());
                Part test = r.read(parquet(spark, cfg.test()), cfg.test());
                return assemble(train, validation, test, r.features(), task, cfg, job.seed(), false);
            }
        }
    }

    /**
     * Loads datasets already in Spark (the entry point of the Java API). Columns as for Parquet:
     * {@code cfg.labelColumn()} (a name, default "label"), {@code cfg.featuresColumn()} or
     * {@code cfg.featureColumns()}; {@code cfg.normalize()} and {@code cfg.validationFraction()} apply
     * (the latter only without a validation dataset), {@code cfg.classes()} for classification. The
     * paths and format of {@code cfg} are ignored. {@code validation} and {@code test} may be null.
     * Messages name the splits "train dataset", "validation dataset" and "test dataset".
     */
    public static Loaded fromDatasets(Dataset<Row> train, Dataset<Row> validation, Dataset<Row> test,
                                      JobConfig.Data cfg, Task t, long seed) {
        if (train == null) {
            throw new IllegalArgumentException("the train dataset is required");
        }
        if (validation != null && cfg.validationFraction() != null) {
            throw new ConfigLoader.ConfigException("config key 'data.validation_fraction' is set and a validation"
                + " dataset was given too; use one of them");
        }
        if (cfg.labelColumn() != null && cfg.labelColumn().isIndex()) {
            throw new ConfigLoader.ConfigException("config key 'data.label_column' must be a column name for"
                + " datasets, got " + cfg.labelColumn());
        }
        JobConfig.Data columns = JobConfig.defaults().data()
            .with("format", DataFormat.PARQUET)
            .with("label_column", cfg.labelColumn())
            .with("features_column", cfg.featuresColumn())
            .with("feature_columns", cfg.featureColumns())
            .with("classes", cfg.classes())
            .with("normalize", cfg.normalize())
            .with("validation_fraction", cfg.validationFraction());
        ConfigRules.validateData(columns, t);
        DatasetReader r = new DatasetReader(train, "train dataset", columns, t);
        return assemble(r.read(train, "train dataset"),
            validation == null ? null : r.read(validation, "validation dataset"),
            test == null ? null : r.read(test, "test dataset"), r.features(), t, columns, seed, false);
    }

    /** One split read for a trained model: its rows, scaled as the model was trained, and their count. */
    public record Scored(JavaRDD<Sample> rows, long count) {
    }

    /**
     * Reads {@code job.data().test()} as training read its data (the format and columns of {@code job}), for a model
     * trained on {@code features} inputs with {@code classes} classes (0 for regression): refused, naming the file and
     * the sizes, when its rows are not {@code features} wide or its labels fall outside the model's classes; scaled
     * with {@code scaling}, the model's own (never fitted again).
     */
    public static Scored forModel(JavaSparkContext sc, JobConfig job, FeatureScaling scaling, int features, int classes) {
        JobConfig.Data cfg = job.data();
        Task task = job.task();
        String path = cfg.test();
        Part part;
        int width;
        switch (cfg.format()) {
            case IDX: {
                IdxReader r = new IdxReader(sc, task, task == Task.CLASSIFICATION ? classes : null);
                part = r.read(path, cfg.testLabels());
                width = r.features();
                break;
            }
            case CSV: {
                CsvReader r = new CsvReader(sc, cfg.with("train", path), task);
                part = r.read(path);
                width = r.features();
                break;
            }
            case LIBSVM: {
                LibSvmReader r = new LibSvmReader(sc, features, task, task == Task.CLASSIFICATION ? classes : null,
                    List.of(path));
                part = r.read(path);
                width = r.features();
                break;
            }
            default: {
                Dataset<Row> data = parquet(session(sc), path);
                DatasetReader r = new DatasetReader(data, path, cfg, task);
                part = r.read(data, path);
                width = r.features();
            }
        }
        if (width != features) {
            throw new IllegalArgumentException(path + ": rows of " + width + " features, but the model takes " + features);
        }
        LabelCheck.check(part, task, classes, task == Task.CLASSIFICATION
            ? "the model has classes 0.." + (classes - 1) : "the model's task is " + task.key());
        return new Scored(samples(part, scaling, task, classes), part.count());
    }

    /** The label file next to an images file: images-idx3 becomes labels-idx1. */
    public static String labelsPathFor(String imagesPath) {
        return IdxReader.labelsPathFor(imagesPath);
    }

    /** Splits the training rows when asked, checks the labels, fits the scaling on train and encodes. */
    private static Loaded assemble(Part train, Part validation, Part test, int features, Task task,
                                   JobConfig.Data cfg, long seed, boolean pixels) {
        if (cfg.validationFraction() != null) {
            long all = train.count();
            Part[] split = Splits.split(train, cfg.validationFraction(), seed);
            train = split[0];
            validation = split[1];
            if (validation.count() == 0 || train.count() == 0) {
                throw new IllegalArgumentException(train.name() + ": data.validation_fraction " + cfg.validationFraction()
                    + " leaves " + train.count() + " training and " + validation.count() + " validation rows out of "
                    + all);
            }
        }
        if (train.count() == 0) {
            throw new IllegalArgumentException(train.name() + ": no data rows");
        }
        Normalize normalize = pixels ? Normalize.NONE : cfg.normalize();
        Normalization.Stats stats = task == Task.REGRESSION && normalize == Normalize.NONE ? null
            : Normalization.stats(train.rows(), features, normalize);
        int classes;
        int outputs;
        switch (task) {
            case CLASSIFICATION:
                classes = cfg.classes() != null ? cfg.classes() : (int) stats.labelMax + 1;
                if (classes < 2) {
                    throw new IllegalArgumentException(train.name() + ": all labels are 0; a classifier needs >= 2"
                        + " classes");
                }
                outputs = classes;
                break;
            case BINARY:
                if (stats.labelMin == stats.labelMax) {
                    throw new IllegalArgumentException(train.name() + ": every label is " + (int) stats.labelMin
                        + "; task binary needs both 0 and 1 in the training split");
                }
                classes = 2;
                outputs = 1;
                break;
            default:
                classes = 0;
                outputs = 1;
        }
        // Every split is read through once more before anything trains (the training split only when
        // the statistics did not already): bad rows of the test split fail now rather than after the
        // last epoch, and class indices the training labels do not cover are named with their place.
        String known = cfg.classes() != null ? "data.classes is " + classes
            : "the training split's labels are 0.." + (classes - 1) + "; set data.classes if it lacks some classes";
        if (stats == null) {
            LabelCheck.check(train, task, classes, known);
        }
        if (validation != null) {
            LabelCheck.check(validation, task, classes, known);
        }
        if (test != null) {
            LabelCheck.check(test, task, classes, known);
        }
        FeatureScaling scaling = pixels ? FeatureScaling.pixels()
            : stats == null ? FeatureScaling.none() : Normalization.fit(stats, normalize);
        return new Loaded(task, samples(train, scaling, task, classes),
            validation == null ? null : samples(validation, scaling, task, classes),
            test == null ? null : samples(test, scaling, task, classes),
            train.count(), validation == null ? 0 : validation.count(), test == null ? 0 : test.count(),
            features, outputs, classes, scaling);
    }

    private static JavaRDD<Sample> samples(Part part, FeatureScaling scaling, Task task, int classes) {
        Part.Locator locator = part.locator();
        return part.rows().map(e -> new Sample(e.index(), scaling.apply(e.x().clone()),
            task == Task.CLASSIFICATION ? oneHot((int) e.label(), classes, locator, e.pos())
                : new float[]{e.label()}));
    }

    public static float[] oneHot(int label, int classes, String path, String where) {
        return oneHot(label, classes, pos -> path + ": " + where, 0);
    }

    private static float[] oneHot(int label, int classes, Part.Locator locator, long pos) {
        if (label < 0 || label >= classes) {
            throw new IllegalArgumentException(locator.where(pos) + ": label " + label + " is outside 0.."
                + (classes - 1) + " (set data.classes if the training split lacks some classes)");
        }
        float[] y = new float[classes];
        y[label] = 1f;
        return y;
    }

    /** The Spark SQL session of a running context (created on first use, sharing the context). */
    public static SparkSession session(JavaSparkContext sc) {
        return SparkSession.builder().sparkContext(sc.sc()).getOrCreate();
    }

    private static Dataset<Row> parquet(SparkSession spark, String path) {
        HadoopPaths.requireExists(spark.sparkContext().hadoopConfiguration(), path);
        return spark.read().parquet(path);
    }

    public static Throwable rootCause(Throwable t) {
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }
}
