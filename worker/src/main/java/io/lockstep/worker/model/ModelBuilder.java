package io.lockstep.worker.model;

import io.lockstep.worker.optim.Optimizers;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;

import java.util.Arrays;

/**
 * The model catalogue: turns the job's {@code model.*} keys ({@link ModelSpec}) and what the job fixes
 * about the data and training ({@link ModelContext}) into an initialised DL4J network. The driver calls
 * {@link #build} once; workers get {@code Network.of(model).toJson()} and its parameters. The built-in
 * layouts (mlp, lenet) are here; the user's own networks are in {@link UserModels}, transfer learning in
 * {@link FineTune}.
 *
 * <p>Every error is an {@link IllegalArgumentException} whose message starts with the config key at fault.
 */
public final class ModelBuilder {
    /** LeNet-style CNN: the classic unpadded layout needs images of at least this many pixels a side. */
    static final int LENET_TRUNCATE_MIN_SIDE = 16;

    private ModelBuilder() {
    }

    /**
     * The network for a job, initialised ({@code init()} done, parameters set).
     *
     * <ul>
     *   <li>With {@code model.init_from}: {@link FineTune#fineTune} (the architecture and parameters come from the
     *       file; every type).</li>
     *   <li>{@code mlp}: {@link #mlpConfig}. {@code lenet}: {@link #lenetConfig}.</li>
     *   <li>{@code json}: the JSON's own configuration, updater included ({@link ModelContext#training} is
     *       not applied; the file is the whole model).</li>
     *   <li>{@code factory}: the user's {@link ModelFactory}.</li>
     * </ul>
     */
    public static Model build(ModelSpec spec, ModelContext ctx) {
        ctx = withInputShape(spec, ctx);
        if (spec.initFrom() != null) {
            return FineTune.fineTune(spec, ctx);
        }
        return switch (spec.type()) {
            // DL4J 1.0.0-M2.1 puts builder-level weight decay into each layer twice: keep one
            case MLP -> init(new MultiLayerNetwork(Optimizers.removeDuplicateRegularization(mlpConfig(spec, ctx))));
            case LENET -> init(new MultiLayerNetwork(Optimizers.removeDuplicateRegularization(lenetConfig(spec, ctx))));
            case JSON -> UserModels.fromJson(spec, ctx);
            case FACTORY -> UserModels.fromFactory(spec, ctx);
        };
    }

    /**
     * Fully connected: inputs → hidden... ({@code model.activation}) → output (activation and loss from the
     * task). Dropout (when {@code model.dropout > 0}) drops hidden units: DL4J applies a layer's dropout
     * to its INPUT, so it is set, as {@code Dropout(1 - model.dropout)}, on every layer after the first
     * (the later hidden layers and the output layer), never on the input features.
     */
    public static MultiLayerConfiguration mlpConfig(ModelSpec spec, ModelContext ctx) {
        Activation act = spec.activation();
        NeuralNetConfiguration.Builder builder = new NeuralNetConfiguration.Builder()
            .seed(ctx.seed())
            .weightInit(act == Activation.RELU || act == Activation.LEAKYRELU ? WeightInit.RELU : WeightInit.XAVIER);
        ctx.training().accept(builder);
        NeuralNetConfiguration.ListBuilder list = builder.list();
        int prev = ctx.inputs();
        for (int i = 0; i < spec.hidden().size(); i++) {
            int width = spec.hidden().get(i);
            DenseLayer.Builder dense = new DenseLayer.Builder().nIn(prev).nOut(width).activation(act);
            if (i > 0 && spec.dropout() > 0) {
                dense.dropOut(spec.retainProbability());
            }
            list.layer(dense.build());
            prev = width;
        }
        list.layer(outputLayer(ctx, prev, spec.hidden().isEmpty() ? 0 : spec.dropout()));
        return list.build();
    }

    /**
     * LeNet-style CNN on flat image rows: conv 5x5 × 20 (stride 1) → max-pool 2x2 → conv 5x5 × 50 → max-pool
     * 2x2 → dense 500 → output, ReLU throughout (He initialisation; Xavier for the output). Input shape from
     * {@link #imageShape}. Images of at least 16 pixels a side use the classic unpadded layout
     * ({@code ConvolutionMode.Truncate}: 28x28 → 24 → 12 → 8 → 4); smaller ones are zero-padded
     * ({@code ConvolutionMode.Same}: 8x8 → 8 → 4 → 4 → 2) so the network still fits. Dropout
     * ({@code model.dropout}) drops units of the dense layer (set on the output layer's input).
     */
    public static MultiLayerConfiguration lenetConfig(ModelSpec spec, ModelContext ctx) {
        int[] hwc = imageShape(spec, ctx);
        ConvolutionMode mode = Math.min(hwc[0], hwc[1]) >= LENET_TRUNCATE_MIN_SIDE
            ? ConvolutionMode.Truncate : ConvolutionMode.Same;
        NeuralNetConfiguration.Builder builder = new NeuralNetConfiguration.Builder()
            .seed(ctx.seed())
            .weightInit(WeightInit.RELU)
            .convolutionMode(mode);
        ctx.training().accept(builder);
        return builder.list()
            .layer(new ConvolutionLayer.Builder(5, 5).stride(1, 1).nIn(hwc[2]).nOut(20)
                .activation(Activation.RELU).build())
            .layer(new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build())
            .layer(new ConvolutionLayer.Builder(5, 5).stride(1, 1).nOut(50).activation(Activation.RELU).build())
            .layer(new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build())
            .layer(new DenseLayer.Builder().nOut(500).activation(Activation.RELU).build())
            .layer(outputLayer(ctx, 0, spec.dropout()))
            .setInputType(InputType.convolutionalFlat(hwc[0], hwc[1], hwc[2]))
            .build();
    }

    /**
     * [height, width, channels] of the images in the rows: {@code model.input_shape}, else the context's,
     * else a square single-channel image when the number of features is a perfect square (784 → 28x28x1,
     * 64 → 8x8x1).
     */
    public static int[] imageShape(ModelSpec spec, ModelContext ctx) {
        int[] shape = withInputShape(spec, ctx).inputShape();
        if (shape != null) {
            return shape;
        }
        int side = (int) Math.round(Math.sqrt(ctx.inputs()));
        if (side * side != ctx.inputs()) {
            throw new IllegalArgumentException("model.input_shape is required for model.type " + spec.type().key()
                + ": " + ctx.inputs() + " features are not a square single-channel image; give "
                + "[height, width, channels]");
        }
        return new int[]{side, side, 1};
    }


    /** The job's output layer; nIn 0 = inferred from the input type. */
    static OutputLayer outputLayer(ModelContext ctx, long nIn, double dropout) {
        OutputLayer.Builder b = new OutputLayer.Builder(ctx.lossFunction()).nOut(ctx.outputs())
            .activation(ctx.outputActivation()).weightInit(WeightInit.XAVIER);
        if (nIn > 0) {
            b.nIn(nIn);
        }
        if (dropout > 0) {
            b.dropOut(1.0 - dropout);
        }
        return b.build();
    }


    static Model init(Model model) {
        if (model instanceof MultiLayerNetwork net) {
            net.init();
        } else if (model instanceof ComputationGraph graph) {
            graph.init();
        }
        return model;
    }

    /** The spec's input shape wins over the context's (validated against the number of features). */
    private static ModelContext withInputShape(ModelSpec spec, ModelContext ctx) {
        int[] shape = spec.inputShapeArray();
        if (shape == null || Arrays.equals(shape, ctx.inputShape())) {
            return ctx;
        }
        return new ModelContext(ctx.inputs(), shape, ctx.outputs(), ctx.task(), ctx.loss(), ctx.training(), ctx.seed());
    }

    static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getMessage() == null ? t.toString() : t.getMessage();
    }
}
