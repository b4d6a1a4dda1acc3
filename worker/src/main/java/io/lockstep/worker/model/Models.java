package io.lockstep.worker.model;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.RmsProp;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.List;
import java.util.Locale;

/** Built-in model, optimizer and loss choices, by the names job configs use. */
public final class Models {
    private Models() {
    }

    /** Fully connected network: nIn → hidden... → nOut, output activation and loss paired sensibly. */
    public static MultiLayerConfiguration mlp(int nIn, List<Integer> hidden, String activation, int nOut,
                                              String loss, IUpdater updater, long seed) {
        Activation act = activation(activation);
        NeuralNetConfiguration.ListBuilder list = new NeuralNetConfiguration.Builder()
            .seed(seed)
            .updater(updater)
            .weightInit(act == Activation.RELU || act == Activation.LEAKYRELU ? WeightInit.RELU : WeightInit.XAVIER)
            .list();
        int prev = nIn;
        for (int width : hidden) {
            if (width < 1) {
                throw new IllegalArgumentException("model.hidden: layer widths must be >= 1, got " + hidden);
            }
            list.layer(new DenseLayer.Builder().nIn(prev).nOut(width).activation(act).build());
            prev = width;
        }
        LossFunctions.LossFunction lossFunction = loss(loss);
        Activation out = lossFunction == LossFunctions.LossFunction.MCXENT ? Activation.SOFTMAX : Activation.IDENTITY;
        list.layer(new OutputLayer.Builder(lossFunction).nIn(prev).nOut(nOut).activation(out)
            .weightInit(WeightInit.XAVIER).build());
        return list.build();
    }

    public static IUpdater optimizer(String name, double lr) {
        if (!(lr > 0)) {
            throw new IllegalArgumentException("optimizer.lr must be > 0, got " + lr);
        }
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "sgd" -> new Sgd(lr);
            case "adam" -> new Adam(lr);
            case "rmsprop" -> new RmsProp(lr);
            default -> throw new IllegalArgumentException("optimizer.type: unknown '" + name
                + "' (sgd, adam, rmsprop)");
        };
    }

    public static LossFunctions.LossFunction loss(String name) {
        return switch (name.toLowerCase(Locale.ROOT).replace('-', '_')) {
            case "cross_entropy", "mcxent" -> LossFunctions.LossFunction.MCXENT;
            case "mse" -> LossFunctions.LossFunction.MSE;
            default -> throw new IllegalArgumentException("loss: unknown '" + name + "' (cross_entropy, mse)");
        };
    }

    public static Activation activation(String name) {
        try {
            return Activation.valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("model.activation: unknown '" + name + "' (relu, tanh, sigmoid, ...)");
        }
    }
}
