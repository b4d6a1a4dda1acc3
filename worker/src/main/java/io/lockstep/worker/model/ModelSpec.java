package io.lockstep.worker.model;

import org.nd4j.linalg.activations.Activation;

import java.io.Serializable;
import java.util.List;

/**
 * The job config's {@code model.*} keys, checked: which network to train and where its starting
 * point comes from. {@link ModelBuilder#build} turns it, with a {@link ModelContext}, into an
 * initialised DL4J network.
 *
 * <ul>
 *   <li>{@code type} ({@code model.type}): {@code mlp} (fully connected, {@link #hidden} and
 *       {@link #activation}), {@code lenet} (a LeNet-style CNN on flat image rows), {@code json} (a DL4J
 *       {@code MultiLayerConfiguration} or {@code ComputationGraphConfiguration} JSON file at {@link #path})
 *       or {@code factory} (a user class implementing {@link ModelFactory}, named by {@link #factory}).</li>
 *   <li>{@code hidden}, {@code activation} ({@code model.hidden}, {@code model.activation}): mlp only.</li>
 *   <li>{@code dropout} ({@code model.dropout}): the probability of DROPPING a hidden unit's output while
 *       training, in [0, 1); 0 turns dropout off. DL4J's {@code Dropout(p)} takes the opposite, the
 *       probability of RETAINING a unit, and applies it to a layer's input; {@link ModelBuilder} passes
 *       {@code 1 - dropout} to the layers that read hidden units (see {@link #retainProbability()}).
 *       Used by mlp, lenet and {@code init_from}; a json or factory network sets its own.</li>
 *   <li>{@code path} ({@code model.path}): json only.</li>
 *   <li>{@code factory} ({@code model.factory}): fully qualified name of a public class with a public
 *       no-argument constructor implementing {@link ModelFactory}; factory only.</li>
 *   <li>{@code initFrom} ({@code model.init_from}): a {@code ModelSerializer} zip (a Lockstep
 *       {@code model.zip} or any DL4J {@code MultiLayerNetwork} / {@code ComputationGraph} zip). When set,
 *       the architecture AND the parameters come from that file; {@code type}, {@code hidden},
 *       {@code activation}, {@code path} and {@code factory} are not used.</li>
 *   <li>{@code freezeLayers} ({@code model.freeze_layers}): with {@code init_from}, the first k layers
 *       (in order; in a graph, in topological order) keep their parameters; 0 freezes nothing.</li>
 *   <li>{@code replaceOutput} ({@code model.replace_output}): with {@code init_from}, replace the output
 *       layer by a fresh one with the job's number of outputs and its loss (fine-tuning to new classes).</li>
 *   <li>{@code inputShape} ({@code model.input_shape}): optional [height, width, channels] of the images
 *       in the flat feature rows (rows are channel-major: all of channel 0, row by row, then channel 1...);
 *       lenet needs it unless the rows are square single-channel images.</li>
 * </ul>
 */
public record ModelSpec(
    ModelType type,
    List<Integer> hidden,
    Activation activation,
    double dropout,
    String path,
    String factory,
    String initFrom,
    int freezeLayers,
    boolean replaceOutput,
    List<Integer> inputShape
) implements Serializable {

    public static final List<Integer> DEFAULT_HIDDEN = List.of(256, 128);
    public static final Activation DEFAULT_ACTIVATION = Activation.RELU;

    /** Validates and normalises: null type → mlp, null hidden → [256, 128], null activation → relu. */
    public ModelSpec {
        type = type == null ? ModelType.MLP : type;
        hidden = hidden == null ? DEFAULT_HIDDEN : List.copyOf(hidden);
        for (Integer width : hidden) {
            if (width == null || width < 1) {
                throw new IllegalArgumentException("model.hidden: layer widths must be >= 1, got " + hidden);
            }
        }
        activation = activation == null ? DEFAULT_ACTIVATION : activation;
        if (!(dropout >= 0 && dropout < 1)) {
            throw new IllegalArgumentException("model.dropout must be in [0, 1), got " + dropout
                + " (the probability of dropping a unit; 0 = off)");
        }
        if (type == ModelType.JSON && (path == null || path.isBlank())) {
            throw new IllegalArgumentException("model.path is required when model.type is json");
        }
        if (type == ModelType.FACTORY && (factory == null || factory.isBlank())) {
            throw new IllegalArgumentException("model.factory is required when model.type is factory "
                + "(a class implementing " + ModelFactory.class.getName() + ")");
        }
        if (dropout > 0 && initFrom == null && type.isUserDefined()) {
            throw new IllegalArgumentException("model.dropout is not used with model.type " + type.key()
                + ": the " + (type == ModelType.JSON ? "JSON" : "factory") + " configures its own dropout");
        }
        if (freezeLayers < 0) {
            throw new IllegalArgumentException("model.freeze_layers must be >= 0, got " + freezeLayers);
        }
        if (initFrom != null && initFrom.isBlank()) {
            throw new IllegalArgumentException("model.init_from must be a file path, got an empty string");
        }
        if (freezeLayers > 0 && initFrom == null) {
            throw new IllegalArgumentException("model.freeze_layers needs model.init_from (a trained model to keep "
                + "layers of)");
        }
        if (replaceOutput && initFrom == null) {
            throw new IllegalArgumentException("model.replace_output needs model.init_from (a trained model whose "
                + "output layer to replace)");
        }
        if (inputShape != null) {
            inputShape = List.copyOf(inputShape);
            if (inputShape.size() != 3 || inputShape.stream().anyMatch(d -> d == null || d < 1)) {
                throw new IllegalArgumentException("model.input_shape must be [height, width, channels], all >= 1, got "
                    + inputShape);
            }
        }
    }

    /** The built-in MLP with the given hidden widths and activation, nothing else set. */
    public static ModelSpec mlp(List<Integer> hidden, Activation activation) {
        return new ModelSpec(ModelType.MLP, hidden, activation, 0, null, null, null, 0, false, null);
    }

    /** The built-in LeNet-style CNN; {@code inputShape} may be null (square single-channel images). */
    public static ModelSpec lenet(List<Integer> inputShape) {
        return new ModelSpec(ModelType.LENET, null, null, 0, null, null, null, 0, false, inputShape);
    }

    /** A DL4J configuration JSON file (either kind). */
    public static ModelSpec json(String path) {
        return new ModelSpec(ModelType.JSON, null, null, 0, path, null, null, 0, false, null);
    }

    /** A user's {@link ModelFactory} class, by its fully qualified name. */
    public static ModelSpec factory(String className) {
        return new ModelSpec(ModelType.FACTORY, null, null, 0, null, className, null, 0, false, null);
    }

    public ModelSpec withDropout(double p) {
        return new ModelSpec(type, hidden, activation, p, path, factory, initFrom, freezeLayers, replaceOutput,
            inputShape);
    }

    public ModelSpec withInputShape(List<Integer> shape) {
        return new ModelSpec(type, hidden, activation, dropout, path, factory, initFrom, freezeLayers, replaceOutput,
            shape);
    }

    /** Start from a saved model: freeze its first {@code freeze} layers, optionally replace its output layer. */
    public ModelSpec withInitFrom(String zip, int freeze, boolean replace) {
        return new ModelSpec(type, hidden, activation, dropout, path, factory, zip, freeze, replace, inputShape);
    }

    /** DL4J's {@code Dropout} argument: the probability of RETAINING a unit, {@code 1 - dropout}. */
    public double retainProbability() {
        return 1.0 - dropout;
    }

    /** [height, width, channels], or null. */
    public int[] inputShapeArray() {
        return inputShape == null ? null : inputShape.stream().mapToInt(Integer::intValue).toArray();
    }
}
