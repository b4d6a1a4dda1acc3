package io.lockstep.worker.model;

import org.nd4j.linalg.lossfunctions.LossFunctions.LossFunction;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** {@code loss}: the output layer's loss, by the names job configs use (DL4J's mcxent / xent also read). */
public enum Loss {
    CROSS_ENTROPY(LossFunction.MCXENT, "mcxent"),
    BINARY_CROSS_ENTROPY(LossFunction.XENT, "xent"),
    MSE(LossFunction.MSE, null),
    MAE(LossFunction.MEAN_ABSOLUTE_ERROR, null);

    private final LossFunction function;
    private final String dl4jName;

    Loss(LossFunction function, String dl4jName) {
        this.function = function;
        this.dl4jName = dl4jName;
    }

    /** The loss named {@code name} (any case, dashes for underscores, DL4J's names); else an error naming {@code loss}. */
    public static Loss parse(String name) {
        String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT).replace('-', '_');
        for (Loss l : values()) {
            if (l.key().equals(n) || n.equals(l.dl4jName)) {
                return l;
            }
        }
        throw new IllegalArgumentException("loss: unknown '" + name + "' (" + Arrays.stream(values())
            .map(Loss::key).collect(Collectors.joining(", ")) + ")");
    }

    /** The name a config writes. */
    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    public LossFunction function() {
        return function;
    }
}
