package io.lockstep.worker.optim;

import org.deeplearning4j.nn.api.Updater;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.Random;

/** Tiny real DL4J networks and the replica's manual update step, for the optimizer tests. */
final class TinyNet {
    static final int N_IN = 3, HIDDEN = 4, N_OUT = 2, BATCH = 5;

    private TinyNet() {
    }

    /** Dense(3→4, tanh) → Output(4→2, identity, MSE), float32. */
    static MultiLayerConfiguration mlp(NeuralNetConfiguration.Builder builder) {
        return builder.seed(7).weightInit(WeightInit.XAVIER).list()
            .layer(new DenseLayer.Builder().nIn(N_IN).nOut(HIDDEN).activation(Activation.TANH).build())
            .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nIn(HIDDEN).nOut(N_OUT)
                .activation(Activation.IDENTITY).build())
            .build();
    }

    /** One linear layer, Output(3→2, identity, MSE), float64: its gradient is easy to compute by hand. */
    static MultiLayerConfiguration linear(NeuralNetConfiguration.Builder builder) {
        return builder.seed(7).dataType(DataType.DOUBLE).weightInit(WeightInit.XAVIER).list()
            .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nIn(N_IN).nOut(N_OUT)
                .activation(Activation.IDENTITY).build())
            .build();
    }

    static MultiLayerNetwork init(MultiLayerConfiguration conf) {
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        net.initGradientsView();
        return net;
    }

    /** A deterministic batch {x, y} for step {@code t}. */
    static INDArray[] batch(int t, DataType type) {
        Random r = new Random(1000 + t);
        double[][] x = new double[BATCH][N_IN];
        double[][] y = new double[BATCH][N_OUT];
        for (int i = 0; i < BATCH; i++) {
            for (int j = 0; j < N_IN; j++) {
                x[i][j] = r.nextGaussian();
            }
            for (int j = 0; j < N_OUT; j++) {
                y[i][j] = r.nextGaussian();
            }
        }
        return new INDArray[]{Nd4j.create(x).castTo(type), Nd4j.create(y).castTo(type)};
    }

    /** Gradient of the batch into the net's gradient view, as a batch mean (what the exchange delivers). */
    static void meanGradient(MultiLayerNetwork net, INDArray[] xy) {
        net.setInput(xy[0]);
        net.setLabels(xy[1]);
        net.computeGradientAndScore();
        net.getGradientsViewArray().divi(xy[0].size(0));
    }

    /** The replica's apply: updater step at global step {@code t} with batch size 1, then params -= update. */
    static void apply(MultiLayerNetwork net, int t) {
        Updater updater = net.getUpdater();
        updater.update(net, net.gradient(), t, 0, 1, LayerWorkspaceMgr.noWorkspaces());
        INDArray params = net.params();
        INDArray grad = net.getGradientsViewArray();
        params.subi(grad.reshape(grad.ordering(), params.shape())); // a view, as in Replica
        net.setIterationCount(t + 1);
    }

    static void step(MultiLayerNetwork net, int t) {
        meanGradient(net, batch(t, net.params().dataType()));
        apply(net, t);
    }
}
