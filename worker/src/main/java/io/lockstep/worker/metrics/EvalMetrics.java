package io.lockstep.worker.metrics;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Validation metrics that each worker computes over its own part of a data set and the driver merges <em>exactly</em>:
 * merging the partial results of any split, in any order, gives what one process would compute over the whole set
 * (counts exactly, floating sums up to rounding). That is why every kind keeps sufficient statistics (confusion
 * counts, all binary scores, per-column error sums and Chan et al.'s (n, mean, M2)) rather than per-part averages.
 *
 * <p>Use: {@link #forTask(String, int)} on each worker, {@link #add} per batch, ship the object (it is
 * {@link Serializable}) and {@link #merge} on the driver; read {@link #metric(String)} for early stopping and
 * {@link #toMap()} for logs. A value that is undefined (0/0, an empty object, no positives for AUC) is {@code NaN}
 * from {@link #metric(String)} and {@code null} in {@link #toMap()}. Not thread-safe.
 */
public abstract class EvalMetrics implements Serializable {
    private static final long serialVersionUID = 1L;

    /** The tasks {@link #forTask(String, int)} knows. */
    public static final List<String> TASKS = List.of("classification", "binary", "regression");

    private static final List<String> CLASSIFICATION = List.of("loss", "accuracy", "precision", "recall", "f1");
    private static final List<String> BINARY = List.of("loss", "accuracy", "precision", "recall", "f1", "auc");
    private static final List<String> REGRESSION = List.of("loss", "mse", "mae", "rmse", "r2");
    private static final List<String> HIGHER = List.of("accuracy", "precision", "recall", "f1", "auc", "r2");
    private static final List<String> LOWER = List.of("loss", "mse", "mae", "rmse");

    private long count;
    private double lossSum;

    /** Only the three kinds in this package: merging relies on knowing all of them. */
    EvalMetrics() {
    }

    /**
     * An empty metrics object for a task.
     *
     * @param task    {@code classification} (outputs = number of classes, at least 2, softmax outputs),
     *                {@code binary} (outputs must be 1: one sigmoid column) or {@code regression} (outputs = columns)
     * @param outputs the network's number of outputs
     */
    public static EvalMetrics forTask(String task, int outputs) {
        switch (checkTask(task)) {
            case "classification":
                return new ClassificationMetrics(outputs);
            case "binary":
                if (outputs != 1) {
                    throw new IllegalArgumentException("binary task needs exactly 1 output (a sigmoid column), got " + outputs);
                }
                return new BinaryMetrics();
            default:
                return new RegressionMetrics(outputs);
        }
    }

    /** The names {@link #metric(String)} accepts for a task, in the order {@link #toMap()} lists them. */
    public static List<String> metricNames(String task) {
        switch (checkTask(task)) {
            case "classification":
                return CLASSIFICATION;
            case "binary":
                return BINARY;
            default:
                return REGRESSION;
        }
    }

    /**
     * Whether a larger value of the metric is better (accuracy, precision, recall, f1, auc, r2) or a smaller one
     * (loss, mse, mae, rmse): the direction early stopping and best-model selection compare in.
     */
    public static boolean higherIsBetter(String name) {
        if (HIGHER.contains(name)) {
            return true;
        }
        if (LOWER.contains(name)) {
            return false;
        }
        List<String> all = new ArrayList<>(LOWER);
        all.addAll(HIGHER);
        throw new IllegalArgumentException("unknown metric '" + name + "'; valid metrics: " + all);
    }

    private static String checkTask(String task) {
        if (!TASKS.contains(task)) {
            throw new IllegalArgumentException("unknown task '" + task + "'; valid tasks: " + TASKS);
        }
        return task;
    }

    /** {@code classification}, {@code binary} or {@code regression}. */
    public abstract String task();

    /** The names {@link #metric(String)} accepts for this object's task. */
    public final List<String> metricNames() {
        return metricNames(task());
    }

    /**
     * Adds one batch.
     *
     * @param labels         what the examples should give: one-hot [n, classes], a 0/1 column [n, 1], or values [n, k]
     * @param predictions    the network's outputs for the same rows, same shape as labels
     * @param perExampleLoss each example's loss, [n] or [n, 1] (e.g. {@code MultiLayerNetwork.scoreExamples(ds, false)},
     *                       which leaves regularization out); summed in double for the mean {@code loss}
     * @throws IllegalArgumentException on mismatched shapes or invalid values; the object is then left unchanged
     */
    public final void add(INDArray labels, INDArray predictions, INDArray perExampleLoss) {
        Objects.requireNonNull(labels, "labels");
        Objects.requireNonNull(predictions, "predictions");
        Objects.requireNonNull(perExampleLoss, "perExampleLoss");
        int rows = (int) labels.size(0);
        if (perExampleLoss.length() != rows || perExampleLoss.rank() > 2
            || (perExampleLoss.rank() == 2 && perExampleLoss.size(1) != 1)) {
            throw new IllegalArgumentException("perExampleLoss must be [" + rows + "] or [" + rows + ", 1] for "
                + rows + " label rows, got " + Arrays.toString(perExampleLoss.shape()));
        }
        double loss = 0;
        if (rows > 0) {
            for (double l : perExampleLoss.dup('c').data().asDouble()) {
                loss += l;
            }
        }
        accumulate(labels, predictions, rows);
        count += rows;
        lossSum += loss;
    }

    /**
     * Adds the rows of one batch to the task-specific statistics; {@link #count()} still excludes them. Must validate
     * everything before changing any state.
     */
    abstract void accumulate(INDArray labels, INDArray predictions, int rows);

    /**
     * Adds another worker's partial result into this one.
     *
     * @return this
     * @throws IllegalArgumentException if {@code other} is another kind or shape (the message says which); this is
     *                                  then left unchanged
     */
    public final EvalMetrics merge(EvalMetrics other) {
        Objects.requireNonNull(other, "other");
        if (other.getClass() != getClass()) {
            throw new IllegalArgumentException("cannot merge " + other.describe() + " into " + describe()
                + ": different tasks (" + other.task() + " vs " + task() + ")");
        }
        mergeSame(other);
        count += other.count;
        lossSum += other.lossSum;
        return this;
    }

    /** Merges the task-specific statistics of an object of the same class; {@link #count()} still excludes other's. */
    abstract void mergeSame(EvalMetrics other);

    /** E.g. {@code ClassificationMetrics(classes=10)}, for error messages. */
    abstract String describe();

    /** Number of examples added, over all merged parts. */
    public final long count() {
        return count;
    }

    /** Mean per-example loss; NaN when empty. */
    public final double loss() {
        return count == 0 ? Double.NaN : lossSum / count;
    }

    /**
     * The value of one metric, as named by {@link #metricNames()}; NaN where undefined.
     *
     * @throws IllegalArgumentException for a name this task does not have, listing the valid ones
     */
    public final double metric(String name) {
        if (!metricNames().contains(name)) {
            throw new IllegalArgumentException("unknown metric '" + name + "' for task " + task()
                + "; valid metrics: " + metricNames());
        }
        return "loss".equals(name) ? loss() : value(name);
    }

    /** The value of a valid metric name other than {@code loss}. */
    abstract double value(String name);

    /**
     * All metrics as a {@link java.util.LinkedHashMap} of strings, numbers, lists and maps that Jackson (or Gson)
     * writes as strict JSON: undefined values are {@code null}, never NaN or Infinity.
     */
    public abstract Map<String, Object> toMap();

    @Override
    public String toString() {
        return describe() + toMap();
    }

    /** A finite double, or null: JSON has no NaN or Infinity. */
    static Double json(double v) {
        return Double.isFinite(v) ? v : null;
    }

    static List<Double> json(double[] v) {
        List<Double> out = new ArrayList<>(v.length);
        for (double d : v) {
            out.add(json(d));
        }
        return out;
    }

    static List<List<Long>> json(long[][] m) {
        List<List<Long>> out = new ArrayList<>(m.length);
        for (long[] row : m) {
            List<Long> r = new ArrayList<>(row.length);
            for (long c : row) {
                r.add(c);
            }
            out.add(r);
        }
        return out;
    }

    /** a / b, NaN when b is 0 (the 0/0 that DL4J reports as its "edge case" value). */
    static double ratio(long a, long b) {
        return b == 0 ? Double.NaN : a / (double) b;
    }

    /**
     * F1 as DL4J's {@code EvaluationUtils.fBeta(1, precision, recall)}: NaN when either is undefined (DL4J's
     * {@code fBeta(1, c, -1)} gives -1 there), 0 when either is 0, else the harmonic mean.
     */
    static double f1(double precision, double recall) {
        if (Double.isNaN(precision) || Double.isNaN(recall)) {
            return Double.NaN;
        }
        if (precision == 0.0 || recall == 0.0) {
            return 0;
        }
        return 2 * precision * recall / (precision + recall);
    }

    /** The batch as a row-major float[] (one copy; fine for batches of a few hundred rows). */
    static float[] floats(INDArray a) {
        return a.dup('c').data().asFloat();
    }

    /** The batch as a row-major double[] (one copy). */
    static double[] doubles(INDArray a) {
        return a.dup('c').data().asDouble();
    }

    /** Requires labels and predictions to be [rows, columns] (or [rows] when columns is 1). */
    static void checkShape(String what, INDArray labels, INDArray predictions, int rows, int columns) {
        for (INDArray a : new INDArray[]{labels, predictions}) {
            boolean ok = a.rank() == 2 ? a.size(0) == rows && a.size(1) == columns
                : a.rank() == 1 && columns == 1 && a.size(0) == rows;
            if (!ok) {
                throw new IllegalArgumentException(what + " needs labels and predictions of shape [" + rows + ", "
                    + columns + "], got labels " + Arrays.toString(labels.shape()) + " and predictions "
                    + Arrays.toString(predictions.shape()));
            }
        }
    }
}
