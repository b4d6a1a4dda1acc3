package io.lockstep.worker.model;

import io.lockstep.worker.cpu.NativeBuild;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.api.Trainable;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.layers.FrozenLayer;
import org.deeplearning4j.nn.layers.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.updater.BaseMultiLayerUpdater;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A DL4J {@link MultiLayerNetwork} or single-input, single-output {@link ComputationGraph} seen as
 * what synchronous data-parallel training needs: one flat float32 parameter vector, one flat
 * gradient view over the same indices, one flat optimizer-state vector, and the three operations of
 * a step (compute the batch gradient, turn it into a batch mean, apply the optimizer step).
 *
 * <p>Everything is addressed by parameter index, whichever kind of network it is: that is what
 * the exchange averages, what checkpoints store and what a later parameter-server optimizer owns.
 */
public abstract class Network {
    static {
        NativeBuild.select(); // before ND4J loads: the first ND4J use of a task on an executor comes through here
    }

    private final Model model;
    private final INDArray params;
    private final INDArray gradient;
    /** The gradient view in the parameters' shape: the updater writes the step here. */
    private final INDArray update;
    private List<INDArray> perSampleViews; // gradient views DL4J divides by the batch size (found on first use)
    private List<INDArray> frozenViews;    // gradient views of frozen layers' parameters (found on first use)

    private Network(Model model) {
        this.model = model;
        this.params = model.params();
        this.gradient = gradientView(model);
        if (gradient.dataType() != DataType.FLOAT || gradient.offset() != 0 || gradient.length() != params.length()) {
            throw new IllegalStateException("expected a dense float32 gradient view of " + params.length()
                + " values, got " + gradient.dataType() + " x " + gradient.length() + " at offset " + gradient.offset());
        }
        this.update = gradient.reshape(gradient.ordering(), params.shape());
        if (update.data().address() != gradient.data().address()) {
            throw new IllegalStateException("the parameter-shaped gradient must be a view, not a copy");
        }
    }

    /** A network from its DL4J JSON (either kind), initialised with the given flat parameters. */
    public static Network fromJson(String json, float[] params) {
        INDArray p = Nd4j.create(params, new long[]{1, params.length}, 'c');
        if (isGraphJson(json)) {
            ComputationGraph graph = new ComputationGraph(ComputationGraphConfiguration.fromJson(json));
            graph.init(p, true);
            return new Graph(graph);
        }
        MultiLayerNetwork net = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(json));
        net.init(p, true);
        if (!Boolean.getBoolean("lockstep.dl4j_input_gradient")) { // the switch is for A/B measurements
            InputDenseLayer.install(net); // a first dense layer skips the input gradient nobody reads
        }
        return new Layers(net);
    }

    /** Wraps an initialised network (its parameters are used in place). */
    public static Network of(Model model) {
        if (model instanceof MultiLayerNetwork net) {
            return new Layers(net);
        }
        if (model instanceof ComputationGraph graph) {
            return new Graph(graph);
        }
        throw new IllegalArgumentException("unsupported model class " + model.getClass().getName()
            + ": expected a MultiLayerNetwork or a ComputationGraph");
    }

    /** ComputationGraph JSON has a "vertices" map; MultiLayerConfiguration JSON has "confs". */
    public static boolean isGraphJson(String json) {
        return json.contains("\"vertices\"") && !json.contains("\"confs\"");
    }

    public Model dl4j() { return model; }
    public INDArray params() { return params; }
    public INDArray gradient() { return gradient; }
    public long parameterCount() { return params.length(); }

    /** The optimizer's state (e.g. Adam's m then v) as one flat view; empty for stateless SGD. */
    public INDArray updaterState() {
        INDArray state = updater().getStateViewArray();
        return state == null ? Nd4j.empty(DataType.FLOAT) : state;
    }

    /** Restores the optimizer state saved by {@link #updaterState()} (same length, by index). */
    public void setUpdaterState(float[] state) {
        INDArray view = updaterState();
        if (view.length() != state.length) {
            throw new IllegalArgumentException("optimizer state has " + state.length + " values, this network's "
                + view.length());
        }
        if (state.length > 0) {
            view.assign(Nd4j.create(state, view.shape(), view.ordering()));
        }
    }

    /** Sets the flat parameters in place (same length, by index). */
    public void setParams(float[] values) {
        if (values.length != params.length()) {
            throw new IllegalArgumentException("got " + values.length + " parameters, the network has "
                + params.length());
        }
        params.assign(Nd4j.create(values, params.shape(), params.ordering()));
    }

    /**
     * Forward and backward pass over one batch: the gradient view then holds the SUM over the
     * batch (DL4J's convention), and zeros for frozen layers' parameters; returns the batch's mean loss.
     */
    public double computeGradient(INDArray features, INDArray labels) {
        double loss = forwardBackward(features, labels);
        zeroFrozen();
        return loss;
    }

    /** DL4J's computeGradientAndScore over one batch; returns the score. */
    abstract double forwardBackward(INDArray features, INDArray labels);

    /** Network output for a batch (inference mode: no dropout). */
    public abstract INDArray output(INDArray features);

    /** Each example's loss (no regularisation terms), shape [n, 1]. */
    public abstract INDArray exampleLosses(INDArray features, INDArray labels);

    public abstract String toJson();

    /**
     * DL4J leaves the batch SUM in the gradient view and its updater divides by the batch size,
     * except for parameters whose "gradient" is really an update (BatchNorm's running mean and
     * variance). Do that division here, with the same per-parameter rule, so the exchange carries
     * batch means and the updater (told batch size 1) divides nothing again.
     */
    public void toBatchMean(int batchSize) {
        for (INDArray view : perSampleViews()) {
            view.divi(batchSize);
        }
    }

    /** The gradient views that are per-sample sums (all of it, in the usual case without BatchNorm). */
    public List<INDArray> perSampleViews() {
        if (perSampleViews == null) {
            List<INDArray> views = new ArrayList<>();
            long divisible = 0;
            for (Map.Entry<String, INDArray> e : model.gradient().gradientForVariable().entrySet()) {
                if (e.getValue() == null) {
                    continue; // a frozen layer's parameters: no gradient
                }
                String key = e.getKey();
                int split = key.lastIndexOf('_');
                if (layer(key.substring(0, split)).updaterDivideByMinibatch(key.substring(split + 1))) {
                    views.add(e.getValue());
                    divisible += e.getValue().length();
                }
            }
            perSampleViews = divisible == gradient.length() ? List.of(gradient) : views;
        }
        return perSampleViews;
    }

    /**
     * Turns the (averaged) gradient in the view into the optimizer's step for global step
     * {@code step} and subtracts it from the parameters. The iteration DL4J sees is the global step,
     * so learning-rate schedules and Adam's bias correction follow it, also after a resume.
     */
    public void applyUpdate(long step, int epoch) {
        // already a mean over all workers' samples: a batch size of 1 stops DL4J dividing again
        updater().update(model.gradient(), Math.toIntExact(step), epoch, 1, LayerWorkspaceMgr.noWorkspaces());
        zeroFrozen(); // frozen layers' updater is a no-op: whatever sat in their slice would be subtracted
        params.subi(update);
        setCounters(Math.toIntExact(step + 1), epoch);
    }

    /**
     * The slices of the gradient view that belong to frozen layers ({@code FrozenLayer},
     * {@code FrozenLayerWithBackprop}, e.g. from transfer learning's feature extractor), in parameter
     * order. DL4J neither writes nor updates them; they are zeroed after every backward pass and
     * before every parameter update, so a frozen layer's parameters stay bit-identical whatever
     * arrives in the exchange.
     */
    public List<INDArray> frozenViews() {
        if (frozenViews == null) {
            INDArray flat = gradient.reshape(gradient.length());
            List<INDArray> views = new ArrayList<>();
            long offset = 0;
            for (Trainable owner : parameterOwners()) {
                long n = owner.numParams();
                if (n > 0 && isFrozen(owner)) {
                    views.add(flat.get(NDArrayIndex.interval(offset, offset + n)));
                }
                offset += n;
            }
            if (offset != gradient.length()) {
                throw new IllegalStateException("layers hold " + offset + " parameters, the gradient view "
                    + gradient.length());
            }
            frozenViews = views;
        }
        return frozenViews;
    }

    private void zeroFrozen() {
        for (INDArray view : frozenViews()) {
            view.assign(0);
        }
    }

    private static boolean isFrozen(Trainable owner) {
        Object layer = owner instanceof GraphVertex v ? (v.hasLayer() ? v.getLayer() : null) : owner;
        return layer instanceof FrozenLayer || layer instanceof FrozenLayerWithBackprop;
    }

    /** Layers (MultiLayerNetwork) or vertices (ComputationGraph) in the order their parameters sit in the flat vector. */
    abstract List<Trainable> parameterOwners();

    /** Iteration and epoch counters as DL4J keeps them (schedules by epoch, listeners). */
    public abstract void setCounters(int iteration, int epoch);

    abstract Layer layer(String name);

    abstract BaseMultiLayerUpdater<?> updater();

    /** The network's gradient view, created if it has none yet (an existing one may be in use by its updater). */
    private static INDArray gradientView(Model model) {
        if (model instanceof MultiLayerNetwork net) {
            if (net.getGradientsViewArray() == null) {
                net.initGradientsView();
            }
            return net.getGradientsViewArray();
        }
        ComputationGraph graph = (ComputationGraph) model;
        if (graph.getGradientsViewArray() == null) {
            graph.initGradientsView();
        }
        return graph.getGradientsViewArray();
    }

    private static final class Layers extends Network {
        private final MultiLayerNetwork net;

        Layers(MultiLayerNetwork net) {
            super(net);
            this.net = net;
        }

        @Override
        double forwardBackward(INDArray features, INDArray labels) {
            net.setInput(features);
            net.setLabels(labels);
            net.computeGradientAndScore();
            return net.score();
        }

        @Override
        public INDArray output(INDArray features) {
            return net.output(features, false);
        }

        @Override
        public INDArray exampleLosses(INDArray features, INDArray labels) {
            return net.scoreExamples(new DataSet(features, labels), false);
        }

        @Override
        public String toJson() {
            return net.getLayerWiseConfigurations().toJson();
        }

        @Override
        public void setCounters(int iteration, int epoch) {
            net.setIterationCount(iteration);
            net.setEpochCount(epoch);
        }

        @Override
        Layer layer(String name) {
            return net.getLayer(Integer.parseInt(name));
        }

        @Override
        List<Trainable> parameterOwners() {
            return List.of(net.getLayers());
        }

        @Override
        BaseMultiLayerUpdater<?> updater() {
            return (BaseMultiLayerUpdater<?>) net.getUpdater();
        }
    }

    private static final class Graph extends Network {
        private final ComputationGraph graph;

        Graph(ComputationGraph graph) {
            super(graph);
            if (graph.getNumInputArrays() != 1 || graph.getNumOutputArrays() != 1) {
                throw new IllegalArgumentException("a ComputationGraph needs exactly one input and one output here, got "
                    + graph.getNumInputArrays() + " inputs and " + graph.getNumOutputArrays() + " outputs");
            }
            this.graph = graph;
        }

        @Override
        double forwardBackward(INDArray features, INDArray labels) {
            graph.setInputs(features);
            graph.setLabels(labels);
            graph.computeGradientAndScore();
            return graph.score();
        }

        @Override
        public INDArray output(INDArray features) {
            return graph.outputSingle(false, features);
        }

        @Override
        public INDArray exampleLosses(INDArray features, INDArray labels) {
            return graph.scoreExamples(new DataSet(features, labels), false);
        }

        @Override
        public String toJson() {
            return graph.getConfiguration().toJson();
        }

        @Override
        public void setCounters(int iteration, int epoch) {
            graph.getConfiguration().setIterationCount(iteration);
            graph.getConfiguration().setEpochCount(epoch);
        }

        @Override
        Layer layer(String name) {
            return graph.getLayer(name);
        }

        @Override
        List<Trainable> parameterOwners() {
            // ComputationGraph lays parameters out vertex by vertex in topological order
            List<Trainable> owners = new ArrayList<>();
            GraphVertex[] vertices = graph.getVertices();
            for (int idx : graph.topologicalSortOrder()) {
                owners.add(vertices[idx]);
            }
            return owners;
        }

        @Override
        BaseMultiLayerUpdater<?> updater() {
            return graph.getUpdater();
        }
    }
}
