package io.lockstep.worker.model;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.lossfunctions.LossFunctions.LossFunction;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * What the job fixes about a model, whatever its type: the data's shape, the task and its loss, the
 * training settings and the seed. Given to {@link ModelBuilder#build} and to a user's {@link ModelFactory}.
 *
 * @param inputs     number of features per example (flat rows)
 * @param inputShape [height, width, channels] of the images in the rows, or null (not images, or unknown)
 * @param outputs    number of output units: the number of classes for classification, 1 for binary,
 *                   the number of targets for regression
 * @param task       {@code classification}, {@code binary} or {@code regression}
 * @param loss       {@code cross_entropy}, {@code binary_cross_entropy}, {@code mse}, {@code mae}, or null for
 *                   the task's default (classification: cross_entropy with softmax; binary:
 *                   binary_cross_entropy with one sigmoid output; regression: mse with identity)
 * @param training   the job's optimizer settings (updater and its schedule, l1 / l2 / weight decay, gradient
 *                   normalisation) applied to a network-wide builder; null = DL4J's defaults. For transfer
 *                   learning {@link FineTune} derives a {@code FineTuneConfiguration} from what this sets
 *                   (see {@link FineTune#fineTuneConfiguration}). It may be called more than once per
 *                   build, so it must only set things on the builder it is given
 * @param seed       weight initialisation (and anything else random when building)
 */
public record ModelContext(
    int inputs,
    int[] inputShape,
    int outputs,
    String task,
    String loss,
    Consumer<NeuralNetConfiguration.Builder> training,
    long seed
) {
    public static final List<String> TASKS = List.of("classification", "binary", "regression");

    public ModelContext {
        if (inputs < 1) {
            throw new IllegalArgumentException("the data has " + inputs + " features; a model needs at least 1");
        }
        task = task == null ? "classification" : task.toLowerCase(Locale.ROOT);
        if (!TASKS.contains(task)) {
            throw new IllegalArgumentException("task must be one of " + String.join(", ", TASKS) + ", got '"
                + task + "'");
        }
        if (outputs < 1) {
            throw new IllegalArgumentException("a model needs at least 1 output, got " + outputs);
        }
        if (task.equals("binary") && outputs != 1) {
            throw new IllegalArgumentException("task binary has one output unit (the probability of class 1), "
                + "got outputs = " + outputs);
        }
        if (task.equals("classification") && outputs < 2) {
            throw new IllegalArgumentException("task classification needs at least 2 classes, got " + outputs
                + " (use task binary for one sigmoid output)");
        }
        if (inputShape != null) {
            inputShape = inputShape.clone();
            if (inputShape.length != 3 || Arrays.stream(inputShape).anyMatch(d -> d < 1)) {
                throw new IllegalArgumentException("model.input_shape must be [height, width, channels], all >= 1, got "
                    + Arrays.toString(inputShape));
            }
            if ((long) inputShape[0] * inputShape[1] * inputShape[2] != inputs) {
                throw new IllegalArgumentException("model.input_shape " + Arrays.toString(inputShape) + " holds "
                    + (long) inputShape[0] * inputShape[1] * inputShape[2] + " values but the data has " + inputs
                    + " features");
            }
        }
        loss = loss == null ? defaultLoss(task) : Models.lossName(loss);
        head(task, loss); // refuses nonsense task / loss pairs
        training = training == null ? b -> { } : training;
    }

    /** Convenience: no image shape. */
    public ModelContext(int inputs, int outputs, String task, String loss,
                        Consumer<NeuralNetConfiguration.Builder> training, long seed) {
        this(inputs, null, outputs, task, loss, training, seed);
    }

    @Override
    public int[] inputShape() {
        return inputShape == null ? null : inputShape.clone();
    }

    /** The DL4J loss function for {@link #loss}. */
    public LossFunction lossFunction() {
        return head(task, loss).loss();
    }

    /** The output layer's activation the task and loss call for (softmax, sigmoid or identity). */
    public Activation outputActivation() {
        return head(task, loss).activation();
    }

    /**
     * A network-wide builder with this job's seed and training settings: start a factory's model here
     * (e.g. {@code ctx.configure(new NeuralNetConfiguration.Builder().weightInit(WeightInit.RELU)).list()...}).
     */
    public NeuralNetConfiguration.Builder configure(NeuralNetConfiguration.Builder builder) {
        builder.seed(seed);
        training.accept(builder);
        return builder;
    }

    /** The output layer this job needs on top of {@code nIn} units: {@link #outputs} units, loss and activation. */
    public OutputLayer outputLayer(long nIn) {
        return new OutputLayer.Builder(lossFunction()).nIn(nIn).nOut(outputs).activation(outputActivation())
            .weightInit(WeightInit.XAVIER).build();
    }

    static String defaultLoss(String task) {
        return switch (task) {
            case "binary" -> "binary_cross_entropy";
            case "regression" -> "mse";
            default -> "cross_entropy";
        };
    }

    record Head(LossFunction loss, Activation activation) {
    }

    /** Output activation and loss for a task; refuses the pairs that make no sense, naming both keys. */
    static Head head(String task, String loss) {
        LossFunction fn = Models.loss(loss);
        return switch (task) {
            case "classification" -> switch (fn) {
                case MCXENT -> new Head(fn, Activation.SOFTMAX);
                case MSE, MEAN_ABSOLUTE_ERROR -> new Head(fn, Activation.IDENTITY);
                default -> throw refused(task, loss, "task classification (softmax over the classes) takes "
                    + "cross_entropy, mse or mae; binary_cross_entropy needs task binary");
            };
            case "binary" -> switch (fn) {
                case XENT, MSE, MEAN_ABSOLUTE_ERROR -> new Head(fn, Activation.SIGMOID);
                default -> throw refused(task, loss, "task binary has one sigmoid output: cross_entropy (softmax) "
                    + "over one output is constant; use binary_cross_entropy");
            };
            case "regression" -> switch (fn) {
                case MSE, MEAN_ABSOLUTE_ERROR -> new Head(fn, Activation.IDENTITY);
                default -> throw refused(task, loss, "task regression takes mse or mae");
            };
            default -> throw new IllegalArgumentException("task: unknown '" + task + "'");
        };
    }

    private static IllegalArgumentException refused(String task, String loss, String why) {
        return new IllegalArgumentException("loss '" + loss + "' does not fit task '" + task + "': " + why);
    }
}
