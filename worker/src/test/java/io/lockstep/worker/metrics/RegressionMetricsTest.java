package io.lockstep.worker.metrics;

import org.junit.jupiter.api.Test;
import org.nd4j.evaluation.regression.RegressionEvaluation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Map;
import java.util.Random;

import static io.lockstep.worker.metrics.Fixtures.*;
import static org.junit.jupiter.api.Assertions.*;

class RegressionMetricsTest {

    /**
     * Doubles, so DL4J (which computes errors in the arrays' type) is exact enough to compare at 1e-9. Column c has
     * labels around {@code offset * c} with spread {@code 1 + c}; predictions are the labels plus noise.
     */
    private static INDArray[] data(int rows, int columns, long seed, double offset) {
        Random rnd = new Random(seed);
        double[] y = new double[rows * columns];
        double[] p = new double[rows * columns];
        double[] loss = new double[rows];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < columns; c++) {
                int i = r * columns + c;
                y[i] = offset * c + (1 + c) * rnd.nextGaussian();
                p[i] = y[i] + 0.5 * (1 + c) * rnd.nextGaussian() + 0.1;
                double e = p[i] - y[i];
                loss[r] += e * e / columns;
            }
        }
        return new INDArray[]{Nd4j.create(y, new long[]{rows, columns}, 'c'),
            Nd4j.create(p, new long[]{rows, columns}, 'c'), Nd4j.create(loss, new long[]{rows, 1}, 'c')};
    }

    @Test
    void partsMergedInAnyOrderEqualTheWholeSetAndDl4jRegressionEvaluation() {
        int rows = 333;
        int columns = 3;
        INDArray[] d = data(rows, columns, 31, 5);
        RegressionMetrics m = (RegressionMetrics) evaluate(() -> new RegressionMetrics(columns), d[0], d[1], d[2],
            0, rows, 512);

        RegressionEvaluation dl4j = new RegressionEvaluation(columns);
        dl4j.eval(d[0], d[1]);
        assertClose(dl4j.averageMeanSquaredError(), m.metric("mse"), "mse");
        assertClose(dl4j.averageMeanAbsoluteError(), m.metric("mae"), "mae");
        assertClose(dl4j.averagerootMeanSquaredError(), m.metric("rmse"), "rmse");
        assertClose(dl4j.averageRSquared(), m.metric("r2"), "r2");
        for (int c = 0; c < columns; c++) {
            assertClose(dl4j.meanSquaredError(c), m.mse(c), "mse " + c);
            assertClose(dl4j.meanAbsoluteError(c), m.mae(c), "mae " + c);
            assertClose(dl4j.rootMeanSquaredError(c), m.rmse(c), "rmse " + c);
            assertClose(dl4j.rSquared(c), m.r2(c), "r2 " + c);
        }
        assertClose(d[2].meanNumber().doubleValue(), m.metric("loss"), "loss");
        assertEquals(rows, m.count());
        assertNotEquals(Math.sqrt(m.mse()), m.rmse(), 1e-6, "rmse is the mean of the column RMSEs, as in DL4J");

        assertPartsMergeToWhole(() -> new RegressionMetrics(columns), d[0], d[1], d[2], m);
        assertEquals(List.of("loss", "mse", "mae", "rmse", "r2", "count"), List.copyOf(m.toMap().keySet()));
    }

    /**
     * Labels near 1e6 with a spread of 2: SST = Σy² - n·mean² (DL4J's formula) cancels away most of its digits; the
     * (n, mean, M2) merge keeps SST to ~1e-12.
     */
    @Test
    void r2StaysAccurateWhenTheLabelMeanDwarfsTheSpread() {
        int rows = 300;
        INDArray[] d = data(rows, 2, 32, 1e6); // column 1 is centred on 1e6
        RegressionMetrics m = (RegressionMetrics) evaluate(() -> new RegressionMetrics(2), d[0], d[1], d[2],
            0, rows, 64);
        double[] y = d[0].getColumn(1).toDoubleVector();
        double[] p = d[1].getColumn(1).toDoubleVector();
        double mean = 0;
        for (double v : y) {
            mean += v / rows;
        }
        double sst = 0;
        double sse = 0;
        for (int i = 0; i < rows; i++) {
            sst += (y[i] - mean) * (y[i] - mean);
            sse += (p[i] - y[i]) * (p[i] - y[i]);
        }
        double r2 = 1 - sse / sst;
        assertTrue(r2 > 0.5 && r2 < 0.95, "r2 " + r2);
        assertEquals(r2, m.r2(1), 1e-9, "two-pass reference");

        double sumSquares = 0;
        for (double v : y) {
            sumSquares += v * v;
        }
        double naiveSst = sumSquares - rows * mean * mean;
        assertTrue(Math.abs(naiveSst - sst) > 1e-6 * sst, "the textbook formula would be off by "
            + Math.abs(naiveSst - sst) / sst + " relative");
        assertPartsMergeToWhole(() -> new RegressionMetrics(2), d[0], d[1], d[2], m);
    }

    @Test
    void constantLabelsGiveNullR2AndFloatBatchesWork() throws Exception {
        RegressionMetrics m = new RegressionMetrics(1);
        m.add(Nd4j.create(new float[]{2, 2, 2}, new long[]{3, 1}, 'c'),
            Nd4j.create(new float[]{1, 2, 4}, new long[]{3, 1}, 'c'), Nd4j.create(new float[]{1, 0, 4}));
        assertEquals(5.0 / 3, m.mse(), 1e-12);
        assertEquals(1.0, m.mae(), 1e-12);
        assertTrue(Double.isNaN(m.metric("r2")));
        Map<String, Object> map = m.toMap();
        assertNull(map.get("r2"));
        assertEquals(5.0 / 3, (Double) map.get("loss"), 1e-12);
        assertStrictJson(map);
    }
}
