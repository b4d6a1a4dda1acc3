package io.lockstep.driver.data;

import io.lockstep.driver.config.Task;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;

import java.util.List;
import java.util.Objects;

/**
 * LibSVM / SVMlight text ({@code label index:value ...}, indices 1-based and ascending, {@code #}
 * starts a comment) through {@code textFile}, densified to {@code features} values per row. Not
 * Spark's {@code libsvm} data source: that one reports no line numbers and lets NaN through, and
 * errors here must name the line and feature index. Binary labels may be -1/+1 (-1 reads as 0).
 */
final class LibSvmReader {
    private final JavaSparkContext sc;
    private final Task task;
    private final int features;
    /** data.classes, or null. */
    private final Integer classes;

    /**
     * {@code features}: from data.features, or else the largest index found in {@code scan} (every
     * file the job reads, so that train, validation and test agree; one extra pass over the text).
     */
    LibSvmReader(JavaSparkContext sc, Integer features, Task task, Integer classes, List<String> scan) {
        this.sc = sc;
        this.task = task;
        this.classes = classes;
        if (features != null) {
            this.features = features;
        } else {
            int max = 0;
            for (String path : scan) {
                HadoopPaths.requireExists(sc.hadoopConfiguration(), path);
                max = Math.max(max, lines(path).map(l -> maxIndex(path, l.line(), l.text())).fold(0, Math::max));
            }
            if (max == 0) {
                throw new IllegalArgumentException(scan.get(0) + ": no features in any row (set data.features)");
            }
            this.features = max;
        }
    }

    int features() {
        return features;
    }

    Part read(String path) {
        HadoopPaths.requireExists(sc.hadoopConfiguration(), path);
        int width = features;
        Task t = task;
        Integer k = classes;
        JavaRDD<Example> rows = lines(path).map(l -> parse(path, l.line(), l.text(), width, t, k))
            .persist(StorageLevel.MEMORY_AND_DISK());
        return Splits.reindex(rows, path, Part.Locator.of(path, "line"), "");
    }

    /** A non-empty line without its comment, and its 1-based number. */
    record Line(long line, String text) implements java.io.Serializable {
    }

    private JavaRDD<Line> lines(String path) {
        return sc.textFile(path).zipWithIndex()
            .map(t -> {
                String s = t._1();
                int hash = s.indexOf('#');
                return new Line(t._2() + 1, (hash >= 0 ? s.substring(0, hash) : s).trim());
            })
            .filter(l -> !l.text().isEmpty());
    }

    static Example parse(String path, long line, String text, int width, Task task, Integer classes) {
        String[] tokens = text.split("\\s+");
        double y = number(path, line, tokens[0], "label");
        String problem = Labels.problem(task, y, true, classes);
        if (problem != null) {
            throw new IllegalArgumentException(path + ": line " + line + ": label '" + tokens[0] + "' " + problem);
        }
        float[] x = new float[width];
        int previous = 0;
        for (int k = 1; k < tokens.length; k++) {
            int colon = tokens[k].indexOf(':');
            int index = index(path, line, tokens[k], colon, previous);
            if (index > width) {
                throw new IllegalArgumentException(path + ": line " + line + ": feature index " + index
                    + " is beyond the " + width + " features (data.features)");
            }
            String cell = tokens[k].substring(colon + 1);
            double v = number(path, line, cell, "feature " + index);
            String bad = Values.featureProblem(v);
            if (bad != null) {
                throw new IllegalArgumentException(path + ": line " + line + ", feature " + index + ": '"
                    + cell + "' " + bad);
            }
            x[index - 1] = (float) v;
            previous = index;
        }
        return new Example(-1, line, x, Labels.stored(task, y));
    }

    static int maxIndex(String path, long line, String text) {
        String[] tokens = text.split("\\s+");
        int previous = 0;
        for (int k = 1; k < tokens.length; k++) {
            previous = index(path, line, tokens[k], tokens[k].indexOf(':'), previous);
        }
        return previous;
    }

    private static int index(String path, long line, String token, int colon, int previous) {
        if (colon <= 0) {
            throw new IllegalArgumentException(path + ": line " + line + ": '" + token + "' is not index:value");
        }
        int index;
        try {
            index = Integer.parseInt(token.substring(0, colon));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(path + ": line " + line + ": '" + token.substring(0, colon)
                + "' is not a feature index");
        }
        if (index < 1 || index <= previous) {
            throw new IllegalArgumentException(path + ": line " + line + ": feature index " + index
                + (index < 1 ? " (indices start at 1)" : " after " + previous + " (indices must be ascending)"));
        }
        return index;
    }

    private static double number(String path, long line, String text, String what) {
        try {
            return Double.parseDouble(Objects.requireNonNull(text));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(path + ": line " + line + ", " + what + ": '" + text
                + "' is not a number");
        }
    }
}
