package io.lockstep.worker.model;

import io.lockstep.worker.data.Digits;
import io.lockstep.worker.data.Sample;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Digits batches and manual training steps for the model tests. */
final class TestData {
    private static List<Sample> digits;

    private TestData() {
    }

    static synchronized List<Sample> digits() {
        if (digits == null) {
            try {
                digits = Digits.load();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return digits;
    }

    /** Rows [from, from + n) of the digits: 64 features in [0, 1], one-hot over 10 classes. */
    static DataSet batch(int from, int n) {
        return batch(from, n, 10, 1);
    }

    /**
     * Rows [from, from + n): labels one-hot over {@code classes} (digit mod classes); each 8x8 image
     * scaled up {@code scale} times (nearest neighbour) and, for scale 3, padded to 28x28.
     */
    static DataSet batch(int from, int n, int classes, int scale) {
        List<Sample> all = digits();
        int side = scale == 1 ? 8 : 28;
        int pad = scale == 1 ? 0 : (28 - 8 * scale) / 2;
        float[][] x = new float[n][side * side];
        float[][] y = new float[n][classes];
        for (int i = 0; i < n; i++) {
            Sample s = all.get(from + i);
            for (int r = 0; r < side - 2 * pad; r++) {
                for (int c = 0; c < side - 2 * pad; c++) {
                    x[i][(r + pad) * side + c + pad] = s.features()[(r / scale) * 8 + c / scale];
                }
            }
            int label = 0;
            for (int k = 0; k < 10; k++) {
                if (s.labels()[k] > 0) {
                    label = k;
                }
            }
            y[i][label % classes] = 1f;
        }
        return new DataSet(Nd4j.create(x), Nd4j.create(y));
    }

    /** One synchronous-SGD step exactly as a worker takes it (one worker: no exchange). */
    static double step(Network net, DataSet batch, long step) {
        double loss = net.computeGradient(batch.getFeatures(), batch.getLabels());
        net.toBatchMean(batch.numExamples());
        net.applyUpdate(step, 0);
        return loss;
    }

    static double meanLoss(Network net, DataSet data) {
        return net.exampleLosses(data.getFeatures(), data.getLabels()).meanNumber().doubleValue();
    }

    /** DL4J's own training step on a batch. */
    static void fit(Model model, DataSet batch) {
        if (model instanceof MultiLayerNetwork net) {
            net.fit(batch);
        } else {
            ((ComputationGraph) model).fit(batch);
        }
    }

    /** Trains {@code steps} manual steps of {@code batchSize} rows; the held-out loss must fall by at least 20%. */
    static void assertLearns(Network net, int classes, int scale, int steps, int batchSize) {
        assertLearns(net, classes, scale, steps, batchSize, 0.8);
    }

    /** Trains {@code steps} manual steps; the held-out loss must fall below {@code factor} times its start. */
    static void assertLearns(Network net, int classes, int scale, int steps, int batchSize, double factor) {
        DataSet held = batch(1500, 256, classes, scale);
        double before = meanLoss(net, held);
        for (int s = 0; s < steps; s++) {
            step(net, batch((s * batchSize) % 1400, batchSize, classes, scale), s);
        }
        double after = meanLoss(net, held);
        assertTrue(after < factor * before, "held-out loss must fall: " + before + " -> " + after);
    }

    static double maxDiff(INDArray a, INDArray b) {
        assertEquals(a.length(), b.length());
        INDArray d = a.reshape(a.length()).castTo(DataType.DOUBLE).sub(b.reshape(b.length()).castTo(DataType.DOUBLE));
        return Transforms.abs(d).maxNumber().doubleValue();
    }
}
