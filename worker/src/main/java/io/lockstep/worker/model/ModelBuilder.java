package io.lockstep.worker.model;

import io.lockstep.worker.optim.Optimizers;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.dropout.Dropout;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BaseOutputLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.transferlearning.FineTuneConfiguration;
import org.deeplearning4j.nn.transferlearning.TransferLearning;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.regularization.Regularization;

import java.io.File;
import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The model catalogue: turns the job's {@code model.*} keys ({@link ModelSpec}) and what the job fixes
 * about the data and training ({@link ModelContext}) into an initialised DL4J network. The driver calls
 * {@link #build} once; workers get {@code Network.of(model).toJson()} and its parameters.
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
     *   <li>With {@code model.init_from}: {@link #fineTune} (the architecture and parameters come from the
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
            return fineTune(spec, ctx);
        }
        return switch (spec.type()) {
            // DL4J 1.0.0-M2.1 puts builder-level weight decay into each layer twice: keep one
            case "mlp" -> init(new MultiLayerNetwork(Optimizers.removeDuplicateRegularization(mlpConfig(spec, ctx))));
            case "lenet" -> init(new MultiLayerNetwork(Optimizers.removeDuplicateRegularization(lenetConfig(spec, ctx))));
            case "json" -> fromJson(spec, ctx);
            case "factory" -> fromFactory(spec, ctx);
            default -> throw new IllegalArgumentException("model.type: unknown '" + spec.type() + "'");
        };
    }

    /**
     * Fully connected: inputs → hidden... ({@code model.activation}) → output (activation and loss from the
     * task). Dropout (when {@code model.dropout > 0}) drops hidden units: DL4J applies a layer's dropout
     * to its INPUT, so it is set, as {@code Dropout(1 - model.dropout)}, on every layer after the first
     * (the later hidden layers and the output layer), never on the input features.
     */
    public static MultiLayerConfiguration mlpConfig(ModelSpec spec, ModelContext ctx) {
        Activation act = Models.activation(spec.activation());
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
            throw new IllegalArgumentException("model.input_shape is required for model.type " + spec.type()
                + ": " + ctx.inputs() + " features are not a square single-channel image; give "
                + "[height, width, channels]");
        }
        return new int[]{side, side, 1};
    }

    /**
     * The {@code FineTuneConfiguration} transfer learning applies to every layer, derived from the job's
     * {@link ModelContext#training} hook: the hook is run on a fresh {@code NeuralNetConfiguration.Builder}
     * and what it set is read back:
     * <ul>
     *   <li>the updater (with its learning-rate schedule) and the bias updater (the updater if none),</li>
     *   <li>l1 / l2 / weight decay, for weights and for biases: they REPLACE the saved model's; when the
     *       job sets none, the saved model's are removed, so the job's settings alone decide;</li>
     *   <li>gradient normalisation (clipping) and its threshold;</li>
     *   <li>the seed: {@link ModelContext#seed}.</li>
     * </ul>
     * Anything else the hook sets on the builder (activation, weight init, dropout, ...) does not carry
     * over: the saved layers keep theirs.
     */
    public static FineTuneConfiguration fineTuneConfiguration(ModelContext ctx) {
        NeuralNetConfiguration.Builder probe = new NeuralNetConfiguration.Builder();
        ctx.training().accept(probe);
        FineTuneConfiguration ftc = new FineTuneConfiguration.Builder()
            .seed(ctx.seed())
            .updater(probe.getIUpdater())
            .biasUpdater(probe.getBiasUpdater() != null ? probe.getBiasUpdater() : probe.getIUpdater())
            .gradientNormalization(probe.getGradientNormalization())
            .gradientNormalizationThreshold(probe.getGradientNormalizationThreshold())
            .build();
        List<Regularization> weights = new ArrayList<>(probe.getRegularization());
        List<Regularization> biases = new ArrayList<>(probe.getRegularizationBias());
        ftc.setRegularization(weights);
        ftc.setRegularizationBias(biases);
        // a non-empty list replaces a layer's; an empty one would leave the saved model's in place
        boolean noWeightReg = weights.isEmpty();
        ftc.setRemoveL1(noWeightReg);
        ftc.setRemoveL2(noWeightReg);
        ftc.setRemoveWD(noWeightReg);
        boolean noBiasReg = biases.isEmpty();
        ftc.setRemoveL1Bias(noBiasReg);
        ftc.setRemoveL2Bias(noBiasReg);
        ftc.setRemoveWDBias(noBiasReg);
        return ftc;
    }

    /**
     * Starts from a saved model ({@code model.init_from}, restored with {@code ModelSerializer}: a
     * {@code MultiLayerNetwork}, else a {@code ComputationGraph}; its optimizer state is not loaded, the
     * job's optimizer starts fresh) through DL4J's {@code TransferLearning}:
     * <ul>
     *   <li>{@link #fineTuneConfiguration} applies the job's training settings to every layer;</li>
     *   <li>{@code model.freeze_layers = k}: the first k layers (graphs: the first k layer vertices in
     *       topological order, plus whatever feeds them) become {@code FrozenLayer}s:
     *       {@code setFeatureExtractor(k - 1)} / {@code setFeatureExtractor(first k names)};</li>
     *   <li>{@code model.replace_output}: the output layer is removed and a fresh {@code OutputLayer} takes
     *       its place (same input width, same inputs in a graph) with the job's number of outputs, loss and
     *       activation, its weights drawn from the job's seed. Without it the saved output layer is kept,
     *       and must already have the job's number of outputs;</li>
     *   <li>{@code model.dropout > 0}: set on every layer with weights that reads another layer's output
     *       (the saved layers' own dropout is kept otherwise). Frozen layers run in inference mode, so
     *       this only acts where they feed a trainable layer.</li>
     * </ul>
     */
    public static Model fineTune(ModelSpec spec, ModelContext ctx) {
        Model restored = restore(spec.initFrom());
        if (restored instanceof MultiLayerNetwork net) {
            return fineTuneLayers(net, spec, ctx);
        }
        return fineTuneGraph((ComputationGraph) restored, spec, ctx);
    }

    /** A {@code ModelSerializer} zip: MultiLayerNetwork first, then ComputationGraph; no optimizer state. */
    public static Model restore(String zip) {
        File file = new File(zip);
        if (!file.isFile()) {
            throw new IllegalArgumentException("model.init_from: file not found: " + zip);
        }
        try {
            return ModelSerializer.restoreMultiLayerNetwork(file, false);
        } catch (Exception asLayers) {
            try {
                return ModelSerializer.restoreComputationGraph(file, false);
            } catch (Exception asGraph) {
                IllegalArgumentException e = new IllegalArgumentException("model.init_from: " + zip
                    + " is neither a DL4J MultiLayerNetwork nor a ComputationGraph saved by ModelSerializer ("
                    + rootMessage(asLayers) + "; as a ComputationGraph: " + rootMessage(asGraph) + ")", asLayers);
                e.addSuppressed(asGraph);
                throw e;
            }
        }
    }

    private static MultiLayerNetwork fineTuneLayers(MultiLayerNetwork orig, ModelSpec spec, ModelContext ctx) {
        int n = orig.getnLayers();
        checkFreeze(spec, n);
        MultiLayerConfiguration conf = orig.getLayerWiseConfigurations();
        Layer out = conf.getConf(n - 1).getLayer();
        long nIn = checkOutput(spec, ctx, out, "layer " + (n - 1));
        if (spec.dropout() > 0) {
            for (int i = 1; i < n; i++) {
                setDropout(conf.getConf(i).getLayer(), spec);
            }
        }
        TransferLearning.Builder tl = new TransferLearning.Builder(orig).fineTuneConfiguration(fineTuneConfiguration(ctx));
        if (spec.freezeLayers() > 0) {
            tl.setFeatureExtractor(spec.freezeLayers() - 1);
        }
        if (spec.replaceOutput()) {
            tl.removeOutputLayer();
            Nd4j.getRandom().setSeed(ctx.seed()); // the new layer's weights are drawn here, from this thread's RNG
            tl.addLayer(outputLayer(ctx, nIn, spec.dropout()));
        }
        MultiLayerNetwork tuned = tl.build();
        // the fine-tune configuration's weight decay lands in each layer twice too (see Optimizers): keep one
        Optimizers.removeDuplicateRegularization(tuned.getLayerWiseConfigurations());
        return tuned;
    }

    private static ComputationGraph fineTuneGraph(ComputationGraph orig, ModelSpec spec, ModelContext ctx) {
        ComputationGraphConfiguration conf = orig.getConfiguration();
        if (conf.getNetworkInputs().size() != 1 || conf.getNetworkOutputs().size() != 1) {
            throw new IllegalArgumentException("model.init_from: " + spec.initFrom() + " is a ComputationGraph with "
                + conf.getNetworkInputs().size() + " inputs and " + conf.getNetworkOutputs().size()
                + " outputs; Lockstep trains graphs with exactly one input and one output");
        }
        List<String> layers = layerVertices(orig);
        checkFreeze(spec, layers.size());
        String outName = conf.getNetworkOutputs().get(0);
        GraphVertex outVertex = conf.getVertices().get(outName);
        if (!(outVertex instanceof LayerVertex outLayer)) {
            throw new IllegalArgumentException("model.init_from: the output vertex '" + outName + "' of "
                + spec.initFrom() + " is a " + outVertex.getClass().getSimpleName() + ", not a layer");
        }
        long nIn = checkOutput(spec, ctx, outLayer.getLayerConf().getLayer(), "'" + outName + "'");
        if (spec.dropout() > 0) {
            for (String name : layers) {
                if (!conf.getNetworkInputs().containsAll(conf.getVertexInputs().get(name))) {
                    setDropout(((LayerVertex) conf.getVertices().get(name)).getLayerConf().getLayer(), spec);
                }
            }
        }
        TransferLearning.GraphBuilder tl = new TransferLearning.GraphBuilder(orig)
            .fineTuneConfiguration(fineTuneConfiguration(ctx));
        if (spec.freezeLayers() > 0) {
            tl.setFeatureExtractor(layers.subList(0, spec.freezeLayers()).toArray(new String[0]));
        }
        if (spec.replaceOutput()) {
            InputPreProcessor pre = outLayer.getPreProcessor();
            String[] inputs = conf.getVertexInputs().get(outName).toArray(new String[0]);
            // the new layer's weights come from init() of the edited graph, seeded by the fine-tune seed
            tl.removeVertexKeepConnections(outName)
                .addLayer(outName, outputLayer(ctx, nIn, spec.dropout()), pre, inputs);
        }
        ComputationGraph tuned = tl.build();
        Optimizers.removeDuplicateRegularization(tuned.getConfiguration()); // DL4J doubles the weight decay here too
        return tuned;
    }

    /** Names of a graph's layer vertices in topological order: what "the first k layers" counts. */
    public static List<String> layerVertices(ComputationGraph graph) {
        List<String> names = new ArrayList<>();
        org.deeplearning4j.nn.graph.vertex.GraphVertex[] vertices = graph.getVertices();
        for (int idx : graph.topologicalSortOrder()) {
            if (vertices[idx].hasLayer()) {
                names.add(vertices[idx].getVertexName());
            }
        }
        return names;
    }

    private static void checkFreeze(ModelSpec spec, int layers) {
        if (spec.freezeLayers() > layers - 1) {
            throw new IllegalArgumentException("model.freeze_layers is " + spec.freezeLayers() + " but the network has "
                + layers + " layers" + (spec.freezeLayers() == layers ? " and its output layer cannot be frozen" : "")
                + " (at most " + (layers - 1) + ")");
        }
    }

    /** The saved output layer's input width; checks it fits the job unless it is being replaced. */
    private static long checkOutput(ModelSpec spec, ModelContext ctx, Layer out, String where) {
        if (!(out instanceof BaseOutputLayer output)) {
            if (spec.replaceOutput()) {
                throw new IllegalArgumentException("model.replace_output: the last layer (" + where + ") of "
                    + spec.initFrom() + " is a " + out.getClass().getSimpleName() + ", not an output layer with "
                    + "weights to replace");
            }
            return -1;
        }
        if (!spec.replaceOutput() && output.getNOut() != ctx.outputs()) {
            throw new IllegalArgumentException("model.replace_output: " + spec.initFrom() + " has "
                + output.getNOut() + " outputs but the job needs " + ctx.outputs()
                + "; set model.replace_output: true to train a new output layer");
        }
        return output.getNIn();
    }

    private static void setDropout(Layer layer, ModelSpec spec) {
        if (layer instanceof BaseLayer) {
            layer.setIDropout(new Dropout(spec.retainProbability()));
        }
    }

    /** The job's output layer; nIn 0 = inferred from the input type. */
    private static OutputLayer outputLayer(ModelContext ctx, long nIn, double dropout) {
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

    private static Model fromJson(ModelSpec spec, ModelContext ctx) {
        Path path = Path.of(spec.path());
        String json;
        try {
            json = Files.readString(path);
        } catch (IOException e) {
            throw new IllegalArgumentException("model.path: cannot read " + path + ": "
                + (Files.exists(path) ? e.getMessage() : "file not found"), e);
        }
        Model model;
        if (Network.isGraphJson(json)) {
            ComputationGraphConfiguration conf;
            try {
                conf = ComputationGraphConfiguration.fromJson(json);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("model.path: " + path
                    + " is not a DL4J ComputationGraphConfiguration JSON: " + rootMessage(e), e);
            }
            if (conf.getNetworkInputs().size() != 1 || conf.getNetworkOutputs().size() != 1) {
                throw new IllegalArgumentException("model.path: " + path + " is a ComputationGraph with "
                    + conf.getNetworkInputs().size() + " inputs and " + conf.getNetworkOutputs().size()
                    + " outputs; Lockstep trains graphs with exactly one input and one output");
            }
            model = init(new ComputationGraph(conf));
        } else {
            MultiLayerConfiguration conf;
            try {
                conf = MultiLayerConfiguration.fromJson(json);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("model.path: " + path
                    + " is not a DL4J MultiLayerConfiguration or ComputationGraphConfiguration JSON: "
                    + rootMessage(e), e);
            }
            model = init(new MultiLayerNetwork(conf));
        }
        checkBuiltOutputs(model, ctx, "model.path: " + path);
        return model;
    }

    private static Model fromFactory(ModelSpec spec, ModelContext ctx) {
        String name = spec.factory();
        Class<?> cls;
        try {
            ClassLoader loader = Thread.currentThread().getContextClassLoader();
            cls = Class.forName(name, true, loader != null ? loader : ModelBuilder.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            throw new IllegalArgumentException("model.factory: class " + name + " not found"
                + (e instanceof ClassNotFoundException ? "" : " (" + e + ")"), e);
        }
        if (!ModelFactory.class.isAssignableFrom(cls)) {
            throw new IllegalArgumentException("model.factory: class " + name + " does not implement "
                + ModelFactory.class.getName());
        }
        ModelFactory factory;
        try {
            factory = (ModelFactory) cls.getConstructor().newInstance();
        } catch (NoSuchMethodException | IllegalAccessException e) {
            throw new IllegalArgumentException("model.factory: class " + name
                + " needs a public no-argument constructor", e);
        } catch (InstantiationException | InvocationTargetException e) {
            throw new IllegalArgumentException("model.factory: cannot create " + name + ": " + rootMessage(e), e);
        }
        Model model;
        try {
            model = factory.create(ctx);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("model.factory: " + name + ".create failed: " + rootMessage(e), e);
        }
        if (model == null) {
            throw new IllegalArgumentException("model.factory: " + name + ".create returned null");
        }
        if (model instanceof ComputationGraph graph
            && (graph.getNumInputArrays() != 1 || graph.getNumOutputArrays() != 1)) {
            throw new IllegalArgumentException("model.factory: " + name + " built a ComputationGraph with "
                + graph.getNumInputArrays() + " inputs and " + graph.getNumOutputArrays()
                + " outputs; Lockstep trains graphs with exactly one input and one output");
        }
        if (!(model instanceof MultiLayerNetwork) && !(model instanceof ComputationGraph)) {
            throw new IllegalArgumentException("model.factory: " + name + " built a " + model.getClass().getName()
                + "; expected a MultiLayerNetwork or a ComputationGraph");
        }
        init(model);
        checkBuiltOutputs(model, ctx, "model.factory: " + name);
        return model;
    }

    /** A json / factory network's output layer must have the job's number of outputs (when it says). */
    private static void checkBuiltOutputs(Model model, ModelContext ctx, String what) {
        org.deeplearning4j.nn.api.Layer out = model instanceof MultiLayerNetwork net
            ? net.getOutputLayer() : ((ComputationGraph) model).getOutputLayer(0);
        if (out.conf() != null && out.conf().getLayer() instanceof FeedForwardLayer ff && ff.getNOut() > 0
            && ff.getNOut() != ctx.outputs()) {
            throw new IllegalArgumentException(what + ": the network has " + ff.getNOut()
                + " outputs but the job needs " + ctx.outputs());
        }
    }

    private static Model init(Model model) {
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
