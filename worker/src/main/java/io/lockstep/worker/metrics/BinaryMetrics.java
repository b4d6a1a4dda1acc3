package io.lockstep.worker.metrics;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Metrics of one sigmoid output against 0/1 labels: thresholded counts plus the exact ROC AUC.
 *
 * <p>An example is predicted positive when its score is strictly greater than 0.5, as in DL4J's {@code Evaluation}
 * for a single output column ({@code predictions.gt(0.5)}). {@code precision}, {@code recall} and {@code f1} are those
 * of the <em>positive</em> class (label 1), as DL4J's {@code Evaluation.precision()} etc. report for binary
 * evaluation with the default positive class 1; undefined ones (0/0) are NaN here where DL4J returns 0.0.
 *
 * <p>The AUC is the Mann–Whitney statistic: the fraction of (positive, negative) pairs where the positive scores
 * higher, a tie counting 1/2 — the area under the ROC curve with tied scores joined by a straight segment. It needs
 * every score, so the scores are kept, split by label into two float lists (4 bytes an example), and merging
 * concatenates them; the count of pairs is an exact integer. DL4J's exact ROC ({@code new ROC(0)}) integrates the
 * curve through each example in sorted order, which gives the same area when no scores tie; with ties its result
 * depends on how the sort ordered them, so only tie-free data is compared with it. Scores are kept as float:
 * double outputs that differ beyond float precision count as tied.
 */
public final class BinaryMetrics extends EvalMetrics {
    private static final long serialVersionUID = 1L;
    private static final float THRESHOLD = 0.5f;

    private long tp;
    private long fp;
    private long fn;
    private long tn;
    private final FloatList positives = new FloatList();
    private final FloatList negatives = new FloatList();

    public BinaryMetrics() {
    }

    @Override
    public String task() {
        return "binary";
    }

    @Override
    String describe() {
        return "BinaryMetrics(outputs=1)";
    }

    @Override
    void accumulate(INDArray labels, INDArray predictions, int rows) {
        checkShape(describe(), labels, predictions, rows, 1);
        if (rows == 0) {
            return;
        }
        float[] l = floats(labels);
        float[] p = floats(predictions);
        for (int r = 0; r < rows; r++) {
            if (l[r] != 0f && l[r] != 1f) {
                throw new IllegalArgumentException("binary labels must be 0 or 1, got " + l[r] + " at row " + r);
            }
            if (Float.isNaN(p[r])) {
                throw new IllegalArgumentException("predictions contain NaN at row " + r);
            }
        }
        for (int r = 0; r < rows; r++) {
            float score = p[r] + 0.0f; // -0.0 becomes 0.0, so the sort cannot split a tie
            boolean predicted = score > THRESHOLD;
            if (l[r] == 1f) {
                positives.add(score);
                if (predicted) {
                    tp++;
                } else {
                    fn++;
                }
            } else {
                negatives.add(score);
                if (predicted) {
                    fp++;
                } else {
                    tn++;
                }
            }
        }
    }

    @Override
    void mergeSame(EvalMetrics other) {
        BinaryMetrics o = (BinaryMetrics) other;
        tp += o.tp;
        fp += o.fp;
        fn += o.fn;
        tn += o.tn;
        positives.addAll(o.positives);
        negatives.addAll(o.negatives);
    }

    /** [[TN, FP], [FN, TP]]: rows = actual 0/1, columns = predicted 0/1. */
    public long[][] confusion() {
        return new long[][]{{tn, fp}, {fn, tp}};
    }

    public double accuracy() {
        return ratio(tp + tn, count());
    }

    /** Precision of the positive class: TP / (TP + FP); NaN if nothing was predicted positive. */
    public double precision() {
        return ratio(tp, tp + fp);
    }

    /** Recall of the positive class: TP / (TP + FN); NaN if there are no positive examples. */
    public double recall() {
        return ratio(tp, tp + fn);
    }

    /** F1 of the positive class; NaN if precision or recall is undefined, 0 if either is 0. */
    public double f1() {
        return f1(precision(), recall());
    }

    /** Exact ROC AUC with ties counted 1/2; NaN unless there is at least one positive and one negative. */
    public double auc() {
        int nPos = positives.size();
        int nNeg = negatives.size();
        if (nPos == 0 || nNeg == 0) {
            return Double.NaN;
        }
        float[] pos = positives.sorted();
        float[] neg = negatives.sorted();
        // For each positive (ascending): below = negatives scoring less, upTo = negatives scoring at most as much.
        long twiceWins = 0;
        int below = 0;
        int upTo = 0;
        for (int i = 0; i < nPos; i++) {
            float s = pos[i];
            while (below < nNeg && neg[below] < s) {
                below++;
            }
            upTo = Math.max(upTo, below);
            while (upTo < nNeg && neg[upTo] <= s) {
                upTo++;
            }
            twiceWins += 2L * below + (upTo - below);
        }
        return twiceWins / (2.0 * nPos * nNeg);
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
            case "f1":
                return f1();
            default:
                return auc();
        }
    }

    /** {@code loss, accuracy, precision, recall, f1} (positive class), {@code auc}, {@code confusion} (2x2), {@code count}. */
    @Override
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("loss", json(loss()));
        m.put("accuracy", json(accuracy()));
        m.put("precision", json(precision()));
        m.put("recall", json(recall()));
        m.put("f1", json(f1()));
        m.put("auc", json(auc()));
        m.put("confusion", json(confusion()));
        m.put("count", count());
        return m;
    }
}
