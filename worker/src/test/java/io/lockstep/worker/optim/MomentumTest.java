package io.lockstep.worker.optim;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.schedule.ISchedule;
import org.nd4j.linalg.schedule.MapSchedule;
import org.nd4j.linalg.schedule.ScheduleType;

import java.util.Map;

import static io.lockstep.worker.optim.TinyNet.*;
import static org.junit.jupiter.api.Assertions.*;

class MomentumTest {
    static final double LR = 0.1, MU = 0.9;

    /** A rate that changes at steps 3 and 6, so a rate folded into the buffer would show. */
    static ISchedule changingRate() {
        return new MapSchedule(ScheduleType.ITERATION, Map.of(0, 0.02, 3, 0.1, 6, 0.05));
    }

    /**
     * Linear regression by hand: yhat = xW + b, MSE over 2 outputs, so dL/dyhat = 2 (yhat - y) / 2 per sample,
     * averaged over the batch; then PyTorch's SGD momentum: buf = mu buf + g; step = lr buf
     * (Nesterov: lr (g + mu buf)); w -= step. Compared with the DL4J network after every step.
     */
    static void checkAgainstReference(Momentum updater, ISchedule rate, boolean nesterov) {
        MultiLayerNetwork net = init(linear(new NeuralNetConfiguration.Builder().updater(updater)));
        double[][] w = net.getParam("0_W").toDoubleMatrix();
        double[] b = net.getParam("0_b").toDoubleVector();
        double[][] bufW = new double[N_IN][N_OUT];
        double[] bufB = new double[N_OUT];
        for (int t = 0; t < 10; t++) {
            INDArray[] xy = batch(t, DataType.DOUBLE);
            double[][] x = xy[0].toDoubleMatrix(), y = xy[1].toDoubleMatrix();
            double[][] gW = new double[N_IN][N_OUT];
            double[] gB = new double[N_OUT];
            for (int n = 0; n < BATCH; n++) {
                for (int o = 0; o < N_OUT; o++) {
                    double yhat = b[o];
                    for (int i = 0; i < N_IN; i++) {
                        yhat += x[n][i] * w[i][o];
                    }
                    double d = 2 * (yhat - y[n][o]) / N_OUT / BATCH;
                    gB[o] += d;
                    for (int i = 0; i < N_IN; i++) {
                        gW[i][o] += x[n][i] * d;
                    }
                }
            }
            double lr = rate.valueAt(t, 0);
            for (int o = 0; o < N_OUT; o++) {
                bufB[o] = MU * bufB[o] + gB[o];
                b[o] -= lr * (nesterov ? gB[o] + MU * bufB[o] : bufB[o]);
                for (int i = 0; i < N_IN; i++) {
                    bufW[i][o] = MU * bufW[i][o] + gW[i][o];
                    w[i][o] -= lr * (nesterov ? gW[i][o] + MU * bufW[i][o] : bufW[i][o]);
                }
            }

            meanGradient(net, xy);
            apply(net, t);

            double[][] netW = net.getParam("0_W").toDoubleMatrix();
            double[] netB = net.getParam("0_b").toDoubleVector();
            for (int o = 0; o < N_OUT; o++) {
                assertEquals(b[o], netB[o], 1e-6, "b step " + t);
                for (int i = 0; i < N_IN; i++) {
                    assertEquals(w[i][o], netW[i][o], 1e-6, "W step " + t);
                }
            }
            // the buffer is the updater state: W's values first, then b's (the parameter order)
            double[] state = net.getUpdater().getStateViewArray().toDoubleVector();
            assertEquals(N_IN * N_OUT + N_OUT, state.length);
            INDArray stateW = net.getUpdater().getStateViewArray().get(
                org.nd4j.linalg.indexing.NDArrayIndex.interval(0, N_IN * N_OUT)).reshape('f', N_IN, N_OUT);
            for (int o = 0; o < N_OUT; o++) {
                assertEquals(bufB[o], state[N_IN * N_OUT + o], 1e-6, "bias buffer step " + t);
                for (int i = 0; i < N_IN; i++) {
                    assertEquals(bufW[i][o], stateW.getDouble(i, o), 1e-6, "weight buffer step " + t);
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void tenStepsMatchTheHandComputedReference(boolean nesterov) {
        checkAgainstReference(new Momentum(LR, MU, nesterov), new MapSchedule(ScheduleType.ITERATION, Map.of(0, LR)),
            nesterov);
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void aScheduledRateMultipliesTheStepNotTheBuffer(boolean nesterov) {
        checkAgainstReference(new Momentum(changingRate(), MU, nesterov), changingRate(), nesterov);
    }

    /** At a constant rate the PyTorch form and DL4J's Sutskever-form Nesterovs are the same method. */
    @Test
    void nesterovEqualsDl4jNesterovsAtAConstantRate() {
        MultiLayerNetwork ours = init(mlp(new NeuralNetConfiguration.Builder().updater(new Momentum(LR, MU, true))));
        MultiLayerNetwork theirs = init(mlp(new NeuralNetConfiguration.Builder().updater(new Nesterovs(LR, MU))));
        theirs.setParams(ours.params().dup());
        for (int t = 0; t < 10; t++) {
            step(ours, t);
            step(theirs, t);
        }
        assertArrayEquals(theirs.params().toDoubleVector(), ours.params().toDoubleVector(), 1e-5);
        assertEquals(ours.getUpdater().getStateViewArray().length(), theirs.getUpdater().getStateViewArray().length());
    }

    @Test
    void roundTripsThroughJsonAndTrainsTheSame() {
        MultiLayerConfiguration conf = mlp(new NeuralNetConfiguration.Builder().updater(new Momentum(changingRate(), MU, true)));
        String json = conf.toJson();
        assertTrue(json.contains("\"@class\" : \"" + Momentum.class.getName() + "\""), json);
        MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(json);
        assertEquals(conf, back);
        assertEquals(json, back.toJson());
        IUpdater u = ((BaseLayer) back.getConf(0).getLayer()).getIUpdater();
        Momentum m = assertInstanceOf(Momentum.class, u);
        assertEquals(MU, m.momentum());
        assertTrue(m.nesterov());
        assertEquals(0.1, m.getLearningRate(4, 0));

        Momentum constant = new Momentum(LR, MU, false);
        String constantJson = mlp(new NeuralNetConfiguration.Builder().updater(constant)).toJson();
        assertEquals(constant, ((BaseLayer) MultiLayerConfiguration.fromJson(constantJson).getConf(1).getLayer()).getIUpdater());

        MultiLayerNetwork a = init(conf);
        MultiLayerNetwork b = new MultiLayerNetwork(back);
        b.init(a.params().dup(), true);
        b.initGradientsView();
        for (int t = 0; t < 10; t++) {
            step(a, t);
            step(b, t);
        }
        assertArrayEquals(a.params().toFloatVector(), b.params().toFloatVector());
    }

    /** The buffer is all of the updater state: saving and restoring that one flat vector resumes exactly. */
    @Test
    void stateIsOneFlatVectorThatCheckpoints() {
        MultiLayerConfiguration conf = mlp(new NeuralNetConfiguration.Builder().updater(new Momentum(LR, MU, false)));
        MultiLayerNetwork a = init(conf);
        for (int t = 0; t < 5; t++) {
            step(a, t);
        }
        INDArray state = a.getUpdater().getStateViewArray();
        assertEquals(a.numParams(), state.length(), "one buffer value per parameter");
        assertNotEquals(0.0, state.norm2Number().doubleValue());
        float[] savedParams = a.params().toFloatVector();
        float[] savedState = state.toFloatVector();

        MultiLayerNetwork b = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(conf.toJson()));
        b.init(org.nd4j.linalg.factory.Nd4j.create(savedParams, new long[]{1, savedParams.length}, 'c'), true);
        b.initGradientsView();
        b.getUpdater().setStateViewArray(b,
            org.nd4j.linalg.factory.Nd4j.create(savedState, new long[]{1, savedState.length}, 'c'), false);
        for (int t = 5; t < 10; t++) {
            step(a, t);
            step(b, t);
        }
        assertArrayEquals(a.params().toFloatVector(), b.params().toFloatVector());
        assertArrayEquals(a.getUpdater().getStateViewArray().toFloatVector(), b.getUpdater().getStateViewArray().toFloatVector());
    }

    @Test
    void validation() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Momentum(0.1, 1.0, false));
        assertEquals("optimizer.momentum must be in [0, 1), got 1", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Momentum(-1, 0.9, false));
        assertEquals("optimizer.lr must be > 0, got -1", e.getMessage());
    }
}
