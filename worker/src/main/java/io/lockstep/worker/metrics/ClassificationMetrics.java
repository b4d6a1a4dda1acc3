package io.lockstep.worker.metrics;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Multi-class metrics from a confusion matrix (rows = actual class, columns = predicted class), which merges by
 * addition and so is exact across workers. The prediction is the argmax of the softmax outputs and the actual class
 * the argmax of the one-hot labels, the first index on ties, as in DL4J's {@code Evaluation}.
 *
 * <p>Matches {@code org.nd4j.evaluation.classification.Evaluation} with {@code EvaluationAveraging.Macro}:
 * <ul>
 *   <li>per-class precision is undefined (NaN here, DL4J's "edge case") for a class never predicted, recall for a
 *       class with no examples, and F1 when either is; F1 is 0 when precision or recall is 0;</li>
 *   <li>macro precision, recall and F1 average only the classes where they are defined, as DL4J does; if none is,
 *       the average is NaN (DL4J: 0/0 = NaN too).</li>
 * </ul>
 * Deliberate differences: DL4J's per-class {@code precision(c)} etc. return 0.0 for the undefined case by default,
 * here NaN ({@code null} in {@link #toMap()}), so an undefined value cannot pass for a real 0; and for exactly 2
 * classes DL4J's {@code f1(Macro)} silently returns class 1's F1, whereas here {@code f1} is always the macro average
 * (use {@link BinaryMetrics} for positive-class metrics). DL4J throws on an empty evaluation; here values are NaN.
 */
public final class ClassificationMetrics extends EvalMetrics {
    private static final long serialVersionUID = 1L;

    private final int classes;
    /** Row-major [actual * classes + predicted]. */
    private final long[] confusion;

    public ClassificationMetrics(int classes) {
        if (classes < 2) {
            throw new IllegalArgumentException("classification needs at least 2 classes, got " + classes);
        }
        this.classes = classes;
        this.confusion = new long[classes * classes];
    }

    @Override
    public String task() {
        return "classification";
    }

    public int classes() {
        return classes;
    }

    @Override
    String describe() {
        return "ClassificationMetrics(classes=" + classes + ")";
    }

    @Override
    void accumulate(INDArray labels, INDArray predictions, int rows) {
        checkShape(describe(), labels, predictions, rows, classes);
        if (rows == 0) {
            return;
        }
        float[] l = floats(labels);
        float[] p = floats(predictions);
        int[] cell = new int[rows];
        for (int r = 0; r < rows; r++) {
            int actual = argmax(l, r, "labels");
            int predicted = argmax(p, r, "predictions");
            cell[r] = actual * classes + predicted;
        }
        for (int c : cell) {
            confusion[c]++;
        }
    }

    /** First index of the row's maximum; NaN would silently read as class 0, so it is refused (DL4J refuses too). */
    private int argmax(float[] a, int row, String what) {
        int base = row * classes;
        int best = 0;
        for (int c = 0; c < classes; c++) {
            float v = a[base + c];
            if (Float.isNaN(v)) {
                throw new IllegalArgumentException(what + " contain NaN at row " + row + ", column " + c);
            }
            if (v > a[base + best]) {
                best = c;
            }
        }
        return best;
    }

    @Override
    void mergeSame(EvalMetrics other) {
        ClassificationMetrics o = (ClassificationMetrics) other;
        if (o.classes != classes) {
            throw new IllegalArgumentException("cannot merge " + o.describe() + " into " + describe()
                + ": number of classes differs (" + o.classes + " vs " + classes + ")");
        }
        for (int i = 0; i < confusion.length; i++) {
            confusion[i] += o.confusion[i];
        }
    }

    /** A copy of the confusion matrix, [actual][predicted]. */
    public long[][] confusion() {
        long[][] m = new long[classes][classes];
        for (int a = 0; a < classes; a++) {
            System.arraycopy(confusion, a * classes, m[a], 0, classes);
        }
        return m;
    }

    private long predictedAs(int c) {
        long n = 0;
        for (int a = 0; a < classes; a++) {
            n += confusion[a * classes + c];
        }
        return n;
    }

    private long actually(int c) {
        long n = 0;
        for (int p = 0; p < classes; p++) {
            n += confusion[c * classes + p];
        }
        return n;
    }

    /** Fraction of examples whose argmax is the labelled class; NaN when empty. */
    public double accuracy() {
        long correct = 0;
        for (int c = 0; c < classes; c++) {
            correct += confusion[c * classes + c];
        }
        return ratio(correct, count());
    }

    /** TP / (TP + FP) of class c; NaN if c was never predicted. */
    public double precision(int c) {
        return ratio(confusion[c * classes + c], predictedAs(c));
    }

    /** TP / (TP + FN) of class c; NaN if c has no examples. */
    public double recall(int c) {
        return ratio(confusion[c * classes + c], actually(c));
    }

    /** Harmonic mean of precision(c) and recall(c); NaN if either is undefined, 0 if either is 0. */
    public double f1(int c) {
        return f1(precision(c), recall(c));
    }

    /** Macro precision: the mean over the classes where it is defined. */
    public double precision() {
        return macro(precisions());
    }

    /** Macro recall: the mean over the classes where it is defined. */
    public double recall() {
        return macro(recalls());
    }

    /** Macro F1: the mean of the per-class F1 over the classes where it is defined (not F1 of macro P and R). */
    public double f1() {
        return macro(f1s());
    }

    private double[] precisions() {
        double[] v = new double[classes];
        for (int c = 0; c < classes; c++) {
            v[c] = precision(c);
        }
        return v;
    }

    private double[] recalls() {
        double[] v = new double[classes];
        for (int c = 0; c < classes; c++) {
            v[c] = recall(c);
        }
        return v;
    }

    private double[] f1s() {
        double[] v = new double[classes];
        for (int c = 0; c < classes; c++) {
            v[c] = f1(c);
        }
        return v;
    }

    /** Mean of the defined (non-NaN) values, summed in class order like DL4J; NaN if none is defined. */
    private static double macro(double[] perClass) {
        double sum = 0;
        int n = 0;
        for (double v : perClass) {
            if (!Double.isNaN(v)) {
                sum += v;
                n++;
            }
        }
        return n == 0 ? Double.NaN : sum / n;
    }

    @Override
    double value(String name) {
        switch (name) {
            case "accuracy":
                return accuracy();
            case "precision":
                return precision();
            case "recall":
                return recall();
            default:
                return f1();
        }
    }

    /**
     * {@code loss, accuracy, precision, recall, f1} (macro), {@code per_class: {precision, recall, f1}} (lists by
     * class index, null where undefined), {@code confusion} ([actual][predicted] counts) and {@code count}.
     */
    @Override
    public Map<String, Object> toMap() {
        Map<String, Object> perClass = new LinkedHashMap<>();
        perClass.put("precision", json(precisions()));
        perClass.put("recall", json(recalls()));
        perClass.put("f1", json(f1s()));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("loss", json(loss()));
        m.put("accuracy", json(accuracy()));
        m.put("precision", json(precision()));
        m.put("recall", json(recall()));
        m.put("f1", json(f1()));
        m.put("per_class", perClass);
        m.put("confusion", json(confusion()));
        m.put("count", count());
        return m;
    }
}
