package io.lockstep.worker.metrics;

import org.junit.jupiter.api.Test;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.evaluation.classification.ROC;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Map;
import java.util.Random;

import static io.lockstep.worker.metrics.Fixtures.*;
import static org.junit.jupiter.api.Assertions.*;

class BinaryMetricsTest {

    /**
     * Scores k/rows for a shuffled k (all distinct, one exactly 0.5, the threshold); labels drawn so higher scores are
     * more often positive. {@code levels > 0} rounds scores to that many steps instead, to make ties.
     */
    private static INDArray[] data(int rows, long seed, int levels) {
        Random rnd = new Random(seed);
        int[] k = new int[rows];
        for (int i = 0; i < rows; i++) {
            k[i] = i;
        }
        for (int i = rows - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = k[i];
            k[i] = k[j];
            k[j] = t;
        }
        float[] labels = new float[rows];
        float[] scores = new float[rows];
        float[] loss = new float[rows];
        for (int i = 0; i < rows; i++) {
            float s = k[i] / (float) rows;
            if (levels > 0) {
                s = Math.round(s * levels) / (float) levels;
            }
            scores[i] = s;
            labels[i] = rnd.nextDouble() < 0.15 + 0.7 * s ? 1 : 0;
            loss[i] = (float) -Math.log(Math.max(1e-7, labels[i] == 1 ? s : 1 - s));
        }
        return new INDArray[]{Nd4j.create(labels, new long[]{rows, 1}, 'c'),
            Nd4j.create(scores, new long[]{rows, 1}, 'c'), Nd4j.create(loss, new long[]{rows}, 'c')};
    }

    /** The definition itself: pairs (positive, negative) ordered right, ties 1/2, over all pairs. */
    private static double bruteForceAuc(INDArray labels, INDArray scores) {
        float[] l = labels.toFloatVector();
        float[] s = scores.toFloatVector();
        double wins = 0;
        long pairs = 0;
        for (int i = 0; i < l.length; i++) {
            for (int j = 0; j < l.length; j++) {
                if (l[i] == 1 && l[j] == 0) {
                    pairs++;
                    wins += s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0;
                }
            }
        }
        return wins / pairs;
    }

    @Test
    void partsMergedInAnyOrderEqualTheWholeSetAndDl4jRocAndEvaluation() {
        int rows = 400;
        INDArray[] d = data(rows, 21, 0);
        BinaryMetrics m = (BinaryMetrics) evaluate(BinaryMetrics::new, d[0], d[1], d[2], 0, rows, 512);

        ROC roc = new ROC(0); // exact mode; no ties in this data, where DL4J's handling is order-dependent
        roc.eval(d[0], d[1]);
        assertClose(roc.calculateAUC(), m.metric("auc"), "auc vs DL4J ROC(0)");
        assertClose(bruteForceAuc(d[0], d[1]), m.metric("auc"), "auc vs all pairs");

        Evaluation eval = new Evaluation(); // one column: predicted positive iff score > 0.5, positive class 1
        eval.eval(d[0], d[1]);
        for (int a = 0; a < 2; a++) {
            for (int p = 0; p < 2; p++) {
                assertEquals(eval.getConfusionMatrix().getCount(a, p), m.confusion()[a][p], "confusion " + a + "," + p);
            }
        }
        assertClose(eval.accuracy(), m.metric("accuracy"), "accuracy");
        assertClose(eval.precision(1), m.metric("precision"), "precision");
        assertClose(eval.recall(1), m.metric("recall"), "recall");
        assertClose(eval.f1(1), m.metric("f1"), "f1");
        assertClose(eval.f1(), m.metric("f1"), "f1 (DL4J's binary default)");
        assertEquals(rows, m.count());

        assertPartsMergeToWhole(BinaryMetrics::new, d[0], d[1], d[2], m);
        double auc = m.metric("auc");
        assertTrue(auc > 0.6 && auc < 0.95, "a non-trivial test set: auc " + auc);
    }

    @Test
    void scoreOfExactlyHalfIsPredictedNegativeLikeDl4j() {
        BinaryMetrics m = new BinaryMetrics();
        m.add(Nd4j.create(new float[]{1, 0, 1}, new long[]{3, 1}, 'c'),
            Nd4j.create(new float[]{0.5f, 0.5f, 0.50001f}, new long[]{3, 1}, 'c'), Nd4j.zeros(3));
        assertArrayEquals(new long[][]{{1, 0}, {1, 1}}, m.confusion());
    }

    @Test
    void tiedScoresCountOneHalfAndMergeExactly() {
        int rows = 350;
        INDArray[] d = data(rows, 22, 10); // 11 distinct scores: many ties, including across parts
        BinaryMetrics m = (BinaryMetrics) evaluate(BinaryMetrics::new, d[0], d[1], d[2], 0, rows, 512);
        assertClose(bruteForceAuc(d[0], d[1]), m.auc(), "auc with ties vs all pairs");
        assertPartsMergeToWhole(BinaryMetrics::new, d[0], d[1], d[2], m);

        BinaryMetrics small = new BinaryMetrics(); // positives 0.8, 0.4; negatives 0.4, 0.2: (1 + 1 + 1/2 + 1) / 4
        small.add(Nd4j.create(new float[]{1, 0, 1, 0}, new long[]{4, 1}, 'c'),
            Nd4j.create(new float[]{0.8f, 0.4f, 0.4f, 0.2f}, new long[]{4, 1}, 'c'), Nd4j.zeros(4));
        assertEquals(0.875, small.auc());
        BinaryMetrics zeros = new BinaryMetrics(); // -0.0 and 0.0 are the same score
        zeros.add(Nd4j.create(new float[]{1, 0}, new long[]{2, 1}, 'c'),
            Nd4j.create(new float[]{-0.0f, 0.0f}, new long[]{2, 1}, 'c'), Nd4j.zeros(2));
        assertEquals(0.5, zeros.auc());
    }

    @Test
    void undefinedValuesAreNullInStrictJson() throws Exception {
        BinaryMetrics m = new BinaryMetrics(); // only negatives, all predicted negative
        m.add(Nd4j.zeros(5, 1), Nd4j.create(new float[]{0.1f, 0.2f, 0.3f, 0.2f, 0.1f}, new long[]{5, 1}, 'c'),
            Nd4j.ones(5, 1));
        Map<String, Object> map = m.toMap();
        assertEquals(List.of("loss", "accuracy", "precision", "recall", "f1", "auc", "confusion", "count"),
            List.copyOf(map.keySet()));
        assertEquals(1.0, map.get("accuracy"));
        assertEquals(1.0, map.get("loss"));
        assertNull(map.get("precision"));
        assertNull(map.get("recall"));
        assertNull(map.get("f1"));
        assertNull(map.get("auc"));
        assertEquals(5L, map.get("count"));
        String json = assertStrictJson(map);
        assertTrue(json.contains("\"auc\":null"), json);
        assertTrue(Double.isNaN(m.metric("auc")));
    }

    @Test
    void labelsMustBeZeroOrOneAndScoresNotNaN() {
        BinaryMetrics m = new BinaryMetrics();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.add(
            Nd4j.create(new float[]{1, 0.5f}, new long[]{2, 1}, 'c'), Nd4j.zeros(2, 1), Nd4j.zeros(2)));
        assertTrue(e.getMessage().contains("0 or 1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> m.add(
            Nd4j.create(new float[]{1, 0}, new long[]{2, 1}, 'c'),
            Nd4j.create(new float[]{0.3f, Float.NaN}, new long[]{2, 1}, 'c'), Nd4j.zeros(2)));
        assertTrue(e.getMessage().contains("NaN"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> m.add(Nd4j.zeros(2, 2), Nd4j.zeros(2, 2), Nd4j.zeros(2)));
        assertTrue(e.getMessage().contains("[2, 1]"), e.getMessage());
        assertEquals(0, m.count());
    }
}
