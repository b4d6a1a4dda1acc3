package io.lockstep.worker.model;

import io.lockstep.worker.optim.Optimizers;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.dropout.Dropout;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BaseOutputLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.transferlearning.FineTuneConfiguration;
import org.deeplearning4j.nn.transferlearning.TransferLearning;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.regularization.Regularization;

import java.io.File;
import java.util.ArrayList;
import java.util.List;

import static io.lockstep.worker.model.ModelBuilder.outputLayer;
import static io.lockstep.worker.model.ModelBuilder.rootMessage;

/**
 * Transfer learning ({@code model.init_from}): a saved model, restored and edited by DL4J's
 * {@code TransferLearning} with the job's training settings, frozen layers, output layer and dropout.
 * {@link ModelBuilder#build} comes here for every model type when {@code model.init_from} is set.
 */
public final class FineTune {
    private FineTune() {
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
        return restore(zip, "model.init_from");
    }

    /** As {@link #restore(String)}, its errors starting with {@code what} (the key or the argument it came from). */
    public static Model restore(String zip, String what) {
        File file = new File(zip);
        if (!file.isFile()) {
            throw new IllegalArgumentException(what + ": file not found: " + zip);
        }
        try {
            return ModelSerializer.restoreMultiLayerNetwork(file, false);
        } catch (Exception asLayers) {
            try {
                return ModelSerializer.restoreComputationGraph(file, false);
            } catch (Exception asGraph) {
                IllegalArgumentException e = new IllegalArgumentException(what + ": " + zip
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
}
