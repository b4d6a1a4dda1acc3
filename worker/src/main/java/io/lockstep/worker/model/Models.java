package io.lockstep.worker.model;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.RmsProp;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.List;
import java.util.Locale;

/**
 * Optimizer, loss and activation choices by the names job configs use (the one place for those names),
 * and the original MLP entry point. Models themselves are built by {@link ModelBuilder}.
 */
public final class Models {
    private Models() {
    }

    /**
     * Fully connected network: nIn → hidden... → nOut, output activation and loss paired sensibly
     * (cross_entropy → softmax, mse / mae → identity, binary_cross_entropy → sigmoid). Kept for callers
     * that predate {@link ModelBuilder}; it builds the same configuration as {@code model.type: mlp} with
     * no dropout, the given updater and task {@code classification} (or {@code binary} for
     * binary_cross_entropy).
     */
    public static MultiLayerConfiguration mlp(int nIn, List<Integer> hidden, String activation, int nOut,
                                              String loss, IUpdater updater, long seed) {
        String task = loss(loss) == LossFunctions.LossFunction.XENT ? "binary" : "classification";
        ModelContext ctx = new ModelContext(nIn, nOut, task, loss, b -> b.updater(updater), seed);
        return ModelBuilder.mlpConfig(ModelSpec.mlp(hidden, activation(activation)), ctx);
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
        return Loss.parse(name).function();
    }

    /** The canonical loss name (also accepts DL4J's mcxent / xent and dashes); unknown names name {@code loss}. */
    public static String lossName(String name) {
        return Loss.parse(name).key();
    }

    public static Activation activation(String name) {
        try {
            return Activation.valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("model.activation: unknown '" + name + "' (relu, tanh, sigmoid, ...)");
        }
    }
}
