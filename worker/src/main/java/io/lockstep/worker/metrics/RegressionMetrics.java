package io.lockstep.worker.metrics;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Regression metrics over k output columns, each computed per column and then averaged over the columns, as DL4J's
 * {@code RegressionEvaluation} does in {@code averageMeanSquaredError()}, {@code averageMeanAbsoluteError()},
 * {@code averagerootMeanSquaredError()} (the mean of the per-column RMSEs, not the root of the mean MSE) and
 * {@code averageRSquared()}.
 *
 * <p>R² is the coefficient of determination, 1 - SSE/SST with SST = Σ(y - mean(y))² over the labels, which is what
 * DL4J's {@code rSquared(c)} computes as (SST - SSE)/SST (it is not the squared Pearson correlation, which DL4J calls
 * {@code pearsonCorrelation}). DL4J gets SST as Σy² - n·mean², which cancels catastrophically when the labels' mean is
 * large against their spread; here each column keeps (mean, M2) and batches and workers are combined with Chan et
 * al.'s parallel update, which stays accurate. R² of a column with constant labels (SST = 0) is NaN (DL4J: ±Infinity,
 * NaN, or a meaningless value when rounding leaves SST slightly off 0).
 *
 * <p>Per column the statistics are sums (SSE, SAE) and (mean, M2), all in double and all mergeable exactly up to
 * rounding; the example count is shared, since rows are never partly masked here. NaN in predictions propagates to
 * the error metrics rather than being refused: unlike an argmax, it cannot be silently miscounted.
 */
public final class RegressionMetrics extends EvalMetrics {
    private static final long serialVersionUID = 1L;

    private final int columns;
    private final double[] sse;
    private final double[] sae;
    private final double[] mean;
    private final double[] m2;

    public RegressionMetrics(int columns) {
        if (columns < 1) {
            throw new IllegalArgumentException("regression needs at least 1 column, got " + columns);
        }
        this.columns = columns;
        this.sse = new double[columns];
        this.sae = new double[columns];
        this.mean = new double[columns];
        this.m2 = new double[columns];
    }

    @Override
    public String task() {
        return "regression";
    }

    public int columns() {
        return columns;
    }

    @Override
    String describe() {
        return "RegressionMetrics(columns=" + columns + ")";
    }

    @Override
    void accumulate(INDArray labels, INDArray predictions, int rows) {
        checkShape(describe(), labels, predictions, rows, columns);
        if (rows == 0) {
            return;
        }
        double[] y = doubles(labels);
        double[] p = doubles(predictions);
        double[] batchMean = new double[columns];
        double[] batchM2 = new double[columns];
        for (int r = 0, i = 0; r < rows; r++) {
            for (int c = 0; c < columns; c++, i++) {
                double e = p[i] - y[i];
                sse[c] += e * e;
                sae[c] += Math.abs(e);
                batchMean[c] += y[i];
            }
        }
        for (int c = 0; c < columns; c++) {
            batchMean[c] /= rows;
        }
        // Corrected two-pass: the deviations' sum fixes the rounding of the first mean, which matters when the mean
        // is large against the spread (the mean's error enters the merge's delta² term to first order).
        double[] drift = new double[columns];
        for (int r = 0, i = 0; r < rows; r++) {
            for (int c = 0; c < columns; c++, i++) {
                double d = y[i] - batchMean[c];
                drift[c] += d;
                batchM2[c] += d * d;
            }
        }
        for (int c = 0; c < columns; c++) {
            batchMean[c] += drift[c] / rows;
            batchM2[c] -= drift[c] * drift[c] / rows;
        }
        combine(count(), rows, batchMean, batchM2);
    }

    @Override
    void mergeSame(EvalMetrics other) {
        RegressionMetrics o = (RegressionMetrics) other;
        if (o.columns != columns) {
            throw new IllegalArgumentException("cannot merge " + o.describe() + " into " + describe()
                + ": number of columns differs (" + o.columns + " vs " + columns + ")");
        }
        for (int c = 0; c < columns; c++) {
            sse[c] += o.sse[c];
            sae[c] += o.sae[c];
        }
        combine(count(), o.count(), o.mean.clone(), o.m2.clone());
    }

    /** Chan et al.: folds (nb, meanB, m2B) into this (na, mean, m2) per column. */
    private void combine(long na, long nb, double[] meanB, double[] m2B) {
        if (nb == 0) {
            return;
        }
        double n = (double) na + nb;
        for (int c = 0; c < columns; c++) {
            double delta = meanB[c] - mean[c];
            mean[c] += delta * (nb / n);
            m2[c] += m2B[c] + delta * delta * ((double) na * nb / n);
        }
    }

    /** Mean squared error of column c; NaN when empty. */
    public double mse(int c) {
        return count() == 0 ? Double.NaN : sse[c] / count();
    }

    /** Mean absolute error of column c; NaN when empty. */
    public double mae(int c) {
        return count() == 0 ? Double.NaN : sae[c] / count();
    }

    public double rmse(int c) {
        return Math.sqrt(mse(c));
    }

    /** 1 - SSE/SST of column c; NaN when empty or the column's labels are constant. */
    public double r2(int c) {
        return count() == 0 || m2[c] == 0 ? Double.NaN : 1 - sse[c] / m2[c];
    }

    public double mse() {
        double s = 0;
        for (int c = 0; c < columns; c++) {
            s += mse(c);
        }
        return s / columns;
    }

    public double mae() {
        double s = 0;
        for (int c = 0; c < columns; c++) {
            s += mae(c);
        }
        return s / columns;
    }

    /** The mean over columns of each column's RMSE (DL4J's {@code averagerootMeanSquaredError}). */
    public double rmse() {
        double s = 0;
        for (int c = 0; c < columns; c++) {
            s += rmse(c);
        }
        return s / columns;
    }

    /** The mean over columns of each column's R²; NaN if any column's is undefined. */
    public double r2() {
        double s = 0;
        for (int c = 0; c < columns; c++) {
            s += r2(c);
        }
        return s / columns;
    }

    @Override
    double value(String name) {
        switch (name) {
            case "mse":
                return mse();
            case "mae":
                return mae();
            case "rmse":
                return rmse();
            default:
                return r2();
        }
    }

    /** {@code loss, mse, mae, rmse, r2} (each averaged over columns) and {@code count}. */
    @Override
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("loss", json(loss()));
        m.put("mse", json(mse()));
        m.put("mae", json(mae()));
        m.put("rmse", json(rmse()));
        m.put("r2", json(r2()));
        m.put("count", count());
        return m;
    }
}
