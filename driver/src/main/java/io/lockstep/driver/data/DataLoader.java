package io.lockstep.driver.data;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;

import io.lockstep.worker.data.Sample;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;

import java.io.DataInputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Locale;

/**
 * Reads the train and test splits with Spark into {@link Sample}s: IDX image/label file pairs
 * or numeric CSV. Labels become one-hot vectors; features are scaled as configured, with the
 * scaling fitted on the training split only. Bad input fails naming the file, line and column.
 */
public final class DataLoader {
    private DataLoader() {
    }

    public record Loaded(JavaRDD<Sample> train, JavaRDD<Sample> test, long trainCount, long testCount,
                         int features, int classes, FeatureScaling scaling) {
    }

    /** One parsed CSV row before scaling and one-hot encoding. */
    record Row(long line, float[] x, int label) implements java.io.Serializable {
    }

    public static Loaded load(JavaSparkContext sc, JobConfig.Data cfg) {
        return cfg.format.toLowerCase(Locale.ROOT).equals("idx") ? loadIdx(sc, cfg) : loadCsv(sc, cfg);
    }

    public static String labelsPathFor(String imagesPath) {
        String labels = imagesPath.replace("images-idx3", "labels-idx1").replace("images.idx3", "labels.idx1");
        if (labels.equals(imagesPath)) {
            throw new ConfigLoader.ConfigException("cannot derive the label file from '" + imagesPath
                + "': set data.train_labels / data.test_labels");
        }
        return labels;
    }

    // ---------------------------------------------------------------- IDX

    private static Loaded loadIdx(JavaSparkContext sc, JobConfig.Data cfg) {
        String trainLabels = cfg.trainLabels != null ? cfg.trainLabels : labelsPathFor(cfg.train);
        String testLabels = cfg.testLabels != null ? cfg.testLabels : labelsPathFor(cfg.test);
        Configuration hadoop = sc.hadoopConfiguration();
        IdxFile.Header trainX = header(hadoop, cfg.train, 3);
        IdxFile.Header trainY = header(hadoop, trainLabels, 1);
        IdxFile.Header testX = header(hadoop, cfg.test, 3);
        IdxFile.Header testY = header(hadoop, testLabels, 1);
        sameCount(cfg.train, trainX, trainLabels, trainY);
        sameCount(cfg.test, testX, testLabels, testY);
        if (trainX.itemSize() != testX.itemSize()) {
            throw new IllegalArgumentException(cfg.test + ": images have " + testX.itemSize()
                + " pixels, the training images " + trainX.itemSize());
        }
        JavaRDD<Integer> trainLabelRdd = idxLabels(sc, trainLabels);
        int classes = cfg.classes != null ? cfg.classes : trainLabelRdd.reduce(Math::max) + 1;
        FeatureScaling scaling = FeatureScaling.pixels();
        return new Loaded(
            idxSamples(idxImages(sc, cfg.train), trainLabelRdd, trainLabels, classes),
            idxSamples(idxImages(sc, cfg.test), idxLabels(sc, testLabels), testLabels, classes),
            trainX.count(), testX.count(), trainX.itemSize(), classes, scaling);
    }

    private static JavaRDD<float[]> idxImages(JavaSparkContext sc, String path) {
        return sc.binaryFiles(path, 1).flatMap(f -> IdxFile.images(f._2().open(), path));
    }

    private static JavaRDD<Integer> idxLabels(JavaSparkContext sc, String path) {
        return sc.binaryFiles(path, 1).flatMap(f -> IdxFile.labels(f._2().open(), path));
    }

    /** Both RDDs come from one file each (one partition, same item count), so zip pairs them in order. */
    private static JavaRDD<Sample> idxSamples(JavaRDD<float[]> images, JavaRDD<Integer> labels, String labelPath,
                                              int classes) {
        return images.zip(labels).zipWithIndex().map(t -> {
            long index = t._2();
            int label = t._1()._2();
            return new Sample(index, t._1()._1(), oneHot(label, classes, labelPath, "item " + index));
        });
    }

    private static IdxFile.Header header(Configuration hadoop, String path, int rank) {
        Path p = new Path(path);
        try {
            FileSystem fs = p.getFileSystem(hadoop);
            try (DataInputStream in = IdxFile.open(fs.open(p), path)) {
                return IdxFile.readHeader(in, path, rank);
            }
        } catch (FileNotFoundException e) {
            throw new IllegalArgumentException(path + ": file not found");
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": cannot read", e);
        }
    }

    private static void sameCount(String images, IdxFile.Header x, String labels, IdxFile.Header y) {
        if (x.count() != y.count()) {
            throw new IllegalArgumentException(labels + ": " + y.count() + " labels for " + x.count()
                + " images in " + images);
        }
    }

    // ---------------------------------------------------------------- CSV

    private static Loaded loadCsv(JavaSparkContext sc, JobConfig.Data cfg) {
        JavaRDD<Row> train = csvRows(sc, cfg.train, cfg).persist(StorageLevel.MEMORY_AND_DISK());
        JavaRDD<Row> test = csvRows(sc, cfg.test, cfg).persist(StorageLevel.MEMORY_AND_DISK());
        long trainCount = train.count();
        long testCount = test.count();
        if (trainCount == 0) {
            throw new IllegalArgumentException(cfg.train + ": no data rows");
        }
        int features = train.first().x().length;
        int testFeatures = testCount == 0 ? features : test.first().x().length;
        if (testFeatures != features) {
            throw new IllegalArgumentException(cfg.test + ": rows have " + testFeatures + " features, "
                + cfg.train + " has " + features);
        }
        int classes = cfg.classes != null ? cfg.classes : train.map(Row::label).reduce(Math::max) + 1;
        if (classes < 2) {
            throw new IllegalArgumentException(cfg.train + ": all labels are 0; a classifier needs >= 2 classes");
        }
        FeatureScaling scaling = fitScaling(train, trainCount, features, cfg.normalize);
        String trainPath = cfg.train;
        String testPath = cfg.test;
        return new Loaded(csvSamples(train, scaling, classes, trainPath), csvSamples(test, scaling, classes, testPath),
            trainCount, testCount, features, classes, scaling);
    }

    private static JavaRDD<Row> csvRows(JavaSparkContext sc, String path, JobConfig.Data cfg) {
        boolean header = cfg.header;
        int labelColumn = cfg.labelColumn;
        requireExists(sc.hadoopConfiguration(), path);
        int width = sc.textFile(path).filter(l -> !l.isBlank()).take(header ? 2 : 1).stream()
            .skip(header ? 1 : 0).findFirst()
            .map(l -> l.split(",", -1).length)
            .orElseThrow(() -> new IllegalArgumentException(path + ": no data rows"));
        if (width < 2) {
            throw new IllegalArgumentException(path + ": need at least one feature and one label column");
        }
        int label = labelColumn < 0 ? width + labelColumn : labelColumn;
        if (label < 0 || label >= width) {
            throw new ConfigLoader.ConfigException("config key 'data.label_column' is " + labelColumn
                + " but " + path + " has " + width + " columns");
        }
        return sc.textFile(path).zipWithIndex()
            .filter(t -> !(header && t._2() == 0) && !t._1().isBlank())
            .map(t -> parseRow(path, t._2() + 1, t._1(), width, label));
    }

    /** Fails naming the path when nothing matches it (a file, a directory or a glob). */
    private static void requireExists(Configuration hadoop, String path) {
        Path p = new Path(path);
        try {
            org.apache.hadoop.fs.FileStatus[] found = p.getFileSystem(hadoop).globStatus(p);
            if (found == null || found.length == 0) {
                throw new IllegalArgumentException(path + ": file not found");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": cannot read", e);
        }
    }

    static Row parseRow(String path, long line, String text, int width, int labelColumn) {
        String[] cells = text.split(",", -1);
        if (cells.length != width) {
            throw new IllegalArgumentException(path + ": line " + line + " has " + cells.length
                + " columns, expected " + width);
        }
        float[] x = new float[width - 1];
        int label = -1;
        for (int c = 0, f = 0; c < width; c++) {
            String cell = cells[c].trim();
            double v;
            try {
                v = Double.parseDouble(cell);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(path + ": line " + line + ", column " + (c + 1)
                    + ": '" + cell + "' is not a number");
            }
            if (!Double.isFinite(v)) {
                throw new IllegalArgumentException(path + ": line " + line + ", column " + (c + 1)
                    + ": '" + cell + "' is not finite");
            }
            if (c == labelColumn) {
                if (v != Math.rint(v) || v < 0) {
                    throw new IllegalArgumentException(path + ": line " + line + ", column " + (c + 1)
                        + ": label '" + cell + "' is not a class index (0, 1, 2, ...)");
                }
                label = (int) v;
            } else {
                x[f++] = (float) v;
            }
        }
        return new Row(line, x, label);
    }

    private static FeatureScaling fitScaling(JavaRDD<Row> train, long n, int features, String kind) {
        switch (kind.toLowerCase(Locale.ROOT)) {
            case "standardize": {
                // per feature: count, sum, sum of squares in double
                double[] acc = train.aggregate(new double[2 * features], (a, r) -> {
                    for (int i = 0; i < features; i++) {
                        a[i] += r.x()[i];
                        a[features + i] += (double) r.x()[i] * r.x()[i];
                    }
                    return a;
                }, DataLoader::add);
                double[] mean = new double[features];
                double[] std = new double[features];
                for (int i = 0; i < features; i++) {
                    mean[i] = acc[i] / n;
                    std[i] = Math.sqrt(Math.max(0, acc[features + i] / n - mean[i] * mean[i]));
                }
                return FeatureScaling.standardize(mean, std);
            }
            case "minmax": {
                // per feature in one pass: min, then max
                double[] init = new double[2 * features];
                java.util.Arrays.fill(init, 0, features, Double.POSITIVE_INFINITY);
                java.util.Arrays.fill(init, features, 2 * features, Double.NEGATIVE_INFINITY);
                double[] acc = train.aggregate(init, (a, r) -> {
                    for (int i = 0; i < features; i++) {
                        a[i] = Math.min(a[i], r.x()[i]);
                        a[features + i] = Math.max(a[features + i], r.x()[i]);
                    }
                    return a;
                }, (a, b) -> {
                    for (int i = 0; i < features; i++) {
                        a[i] = Math.min(a[i], b[i]);
                        a[features + i] = Math.max(a[features + i], b[features + i]);
                    }
                    return a;
                });
                return FeatureScaling.minmax(java.util.Arrays.copyOfRange(acc, 0, features),
                    java.util.Arrays.copyOfRange(acc, features, 2 * features));
            }
            default:
                return FeatureScaling.none();
        }
    }

    private static JavaRDD<Sample> csvSamples(JavaRDD<Row> rows, FeatureScaling scaling, int classes, String path) {
        return rows.map(r -> new Sample(r.line(), scaling.apply(r.x().clone()),
            oneHot(r.label(), classes, path, "line " + r.line())));
    }

    public static float[] oneHot(int label, int classes, String path, String where) {
        if (label < 0 || label >= classes) {
            throw new IllegalArgumentException(path + ": " + where + ": label " + label + " is outside 0.."
                + (classes - 1) + " (set data.classes if the training split lacks some classes)");
        }
        float[] y = new float[classes];
        y[label] = 1f;
        return y;
    }

    private static double[] add(double[] a, double[] b) {
        for (int i = 0; i < a.length; i++) {
            a[i] += b[i];
        }
        return a;
    }

    public static Throwable rootCause(Throwable t) {
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }
}
