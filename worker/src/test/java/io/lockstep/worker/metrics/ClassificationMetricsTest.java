package io.lockstep.worker.metrics;

import io.lockstep.worker.model.Models;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.evaluation.EvaluationAveraging;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Map;
import java.util.Random;

import static io.lockstep.worker.metrics.Fixtures.*;
import static org.junit.jupiter.api.Assertions.*;

class ClassificationMetricsTest {

    /** One-hot labels drawn at random; softmax-like rows that favour the label, so accuracy is neither 0 nor 1. */
    private static INDArray[] data(int rows, int classes, long seed, int neverLabel, int neverPredicted) {
        Random rnd = new Random(seed);
        float[] labels = new float[rows * classes];
        float[] probs = new float[rows * classes];
        float[] loss = new float[rows];
        for (int r = 0; r < rows; r++) {
            int y;
            do {
                y = rnd.nextInt(classes);
            } while (y == neverLabel);
            labels[r * classes + y] = 1;
            float sum = 0;
            for (int c = 0; c < classes; c++) {
                float v = c == neverPredicted ? 0 : rnd.nextFloat() + (c == y ? 0.6f : 0);
                probs[r * classes + c] = v;
                sum += v;
            }
            for (int c = 0; c < classes; c++) {
                probs[r * classes + c] /= sum;
            }
            loss[r] = (float) -Math.log(Math.max(1e-7, probs[r * classes + y]));
        }
        return new INDArray[]{Nd4j.create(labels, new long[]{rows, classes}, 'c'),
            Nd4j.create(probs, new long[]{rows, classes}, 'c'), Nd4j.create(loss, new long[]{rows, 1}, 'c')};
    }

    /** Everything but the loss, which DL4J's Evaluation does not know, against DL4J on the whole set. */
    private static void assertMatchesDl4j(ClassificationMetrics m, INDArray labels, INDArray probs) {
        int classes = m.classes();
        Evaluation dl4j = new Evaluation(classes);
        dl4j.eval(labels, probs);
        assertEquals(dl4j.getNumRowCounter(), m.count());
        for (int a = 0; a < classes; a++) {
            for (int p = 0; p < classes; p++) {
                assertEquals(dl4j.getConfusionMatrix().getCount(a, p), m.confusion()[a][p], "confusion " + a + "," + p);
            }
            assertClose(undefinedAsNaN(dl4j.precision(a, -1)), m.precision(a), "precision " + a);
            assertClose(undefinedAsNaN(dl4j.recall(a, -1)), m.recall(a), "recall " + a);
            assertClose(undefinedAsNaN(dl4j.fBeta(1.0, a, -1)), m.f1(a), "f1 " + a);
        }
        assertClose(dl4j.accuracy(), m.metric("accuracy"), "accuracy");
        assertClose(dl4j.precision(EvaluationAveraging.Macro), m.metric("precision"), "macro precision");
        assertClose(dl4j.recall(EvaluationAveraging.Macro), m.metric("recall"), "macro recall");
        if (classes > 2) { // see twoClassesF1IsTheMacroAverageUnlikeDl4j
            assertClose(dl4j.f1(EvaluationAveraging.Macro), m.metric("f1"), "macro f1");
        }
    }

    private static double mean(INDArray loss) {
        return loss.castTo(DataType.DOUBLE).meanNumber().doubleValue();
    }

    @Test
    void partsMergedInAnyOrderEqualTheWholeSetAndDl4jEvaluation() {
        int classes = 5;
        INDArray[] d = data(347, classes, 11, -1, -1);
        EvalMetrics whole = evaluate(() -> new ClassificationMetrics(classes), d[0], d[1], d[2], 0, 347, 512);
        assertMatchesDl4j((ClassificationMetrics) whole, d[0], d[1]);
        assertClose(mean(d[2]), whole.metric("loss"), "loss");
        assertPartsMergeToWhole(() -> new ClassificationMetrics(classes), d[0], d[1], d[2], whole);
        double acc = whole.metric("accuracy");
        assertTrue(acc > 0.3 && acc < 0.95, "a non-trivial test set: accuracy " + acc);
    }

    @Test
    void classWithoutExamplesAndClassNeverPredictedAreLeftOutOfTheMacroAverageLikeDl4j() throws Exception {
        int classes = 4;
        INDArray[] d = data(260, classes, 12, 3, 2); // no example of class 3; class 2 never predicted
        EvalMetrics whole = evaluate(() -> new ClassificationMetrics(classes), d[0], d[1], d[2], 0, 260, 512);
        ClassificationMetrics m = (ClassificationMetrics) whole;
        assertTrue(Double.isNaN(m.precision(2)), "class 2 never predicted: precision 0/0");
        assertTrue(Double.isNaN(m.recall(3)), "class 3 has no examples: recall 0/0");
        assertEquals(0.0, m.recall(2), "class 2 has examples but no hits");
        assertEquals(0.0, m.precision(3), "class 3 is predicted, never right");
        assertMatchesDl4j(m, d[0], d[1]);
        assertPartsMergeToWhole(() -> new ClassificationMetrics(classes), d[0], d[1], d[2], whole);

        Map<String, Object> map = m.toMap();
        assertEquals(List.of("loss", "accuracy", "precision", "recall", "f1", "per_class", "confusion", "count"),
            List.copyOf(map.keySet()));
        @SuppressWarnings("unchecked")
        Map<String, List<Double>> perClass = (Map<String, List<Double>>) map.get("per_class");
        assertNull(perClass.get("precision").get(2));
        assertNull(perClass.get("recall").get(3));
        assertNull(perClass.get("f1").get(2));
        assertNull(perClass.get("f1").get(3));
        assertEquals(0L, ((List<?>) ((List<?>) map.get("confusion")).get(3)).stream()
            .mapToLong(v -> (Long) v).sum(), "no row for class 3");
        String json = assertStrictJson(map);
        assertTrue(json.contains("\"precision\":[") && json.contains("null"), json);
    }

    /** Documents the one deliberate difference: with 2 classes, DL4J's f1(Macro) is class 1's F1. */
    @Test
    void twoClassesF1IsTheMacroAverageUnlikeDl4j() {
        INDArray[] d = data(300, 2, 13, -1, -1);
        ClassificationMetrics m = (ClassificationMetrics) evaluate(() -> new ClassificationMetrics(2), d[0], d[1], d[2],
            0, 300, 512);
        assertMatchesDl4j(m, d[0], d[1]);
        Evaluation dl4j = new Evaluation(2);
        dl4j.eval(d[0], d[1]);
        assertClose((m.f1(0) + m.f1(1)) / 2, m.metric("f1"), "our f1 is the mean over both classes");
        assertClose(m.f1(1), dl4j.f1(EvaluationAveraging.Macro), "DL4J's 'macro' f1 is class 1's");
        assertNotEquals(dl4j.f1(EvaluationAveraging.Macro), m.metric("f1"), 1e-6);
    }

    /** The intended caller: a real network's outputs and {@code scoreExamples}, batch by batch, as on a worker. */
    @Test
    void lossFromScoreExamplesIsDl4jsScoreOfTheWholeSet() {
        int rows = 200;
        int classes = 3;
        MultiLayerNetwork net = new MultiLayerNetwork(Models.mlp(8, List.of(6), "tanh", classes, "cross_entropy",
            Models.optimizer("sgd", 0.1), 7));
        net.init();
        Random rnd = new Random(41);
        float[] features = new float[rows * 8];
        for (int i = 0; i < features.length; i++) {
            features[i] = (float) rnd.nextGaussian();
        }
        INDArray x = Nd4j.create(features, new long[]{rows, 8}, 'c');
        INDArray y = data(rows, classes, 42, -1, -1)[0];
        ClassificationMetrics m = new ClassificationMetrics(classes);
        for (int a = 0; a < rows; a += 64) {
            int b = Math.min(rows, a + 64);
            DataSet batch = new DataSet(rows(x, a, b), rows(y, a, b));
            m.add(batch.getLabels(), net.output(batch.getFeatures(), false), net.scoreExamples(batch, false));
        }
        double score = net.score(new DataSet(x, y), false); // mean loss; no regularization configured
        assertEquals(score, m.metric("loss"), 1e-6 * score);
        assertMatchesDl4j(m, y, net.output(x, false));
    }

    @Test
    void nanInPredictionsIsRefusedAndLeavesTheMetricsUnchanged() {
        ClassificationMetrics m = new ClassificationMetrics(3);
        INDArray labels = Nd4j.create(new float[]{1, 0, 0, 0, 1, 0}, new long[]{2, 3}, 'c');
        INDArray probs = Nd4j.create(new float[]{0.2f, 0.3f, 0.5f, Float.NaN, 0.5f, 0.5f}, new long[]{2, 3}, 'c');
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> m.add(labels, probs, Nd4j.ones(2)));
        assertTrue(e.getMessage().contains("NaN at row 1"), e.getMessage());
        assertEquals(0, m.count());
        assertEquals(0, m.confusion()[0][2]);
    }

    @Test
    void wrongShapesAreRefusedWithTheShapes() {
        ClassificationMetrics m = new ClassificationMetrics(3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> m.add(Nd4j.zeros(4, 3), Nd4j.zeros(4, 2), Nd4j.zeros(4)));
        assertTrue(e.getMessage().contains("[4, 3]") && e.getMessage().contains("[4, 2]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
            () -> m.add(Nd4j.zeros(4, 3), Nd4j.zeros(4, 3), Nd4j.zeros(3)));
        assertTrue(e.getMessage().contains("perExampleLoss"), e.getMessage());
    }
}
