package io.lockstep.worker.model;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.nio.file.Files;
import java.nio.file.Path;

import static io.lockstep.worker.model.ModelBuilder.init;
import static io.lockstep.worker.model.ModelBuilder.rootMessage;

/**
 * The networks the user brings: {@code model.type: json} (a DL4J configuration file) and
 * {@code model.type: factory} (a {@link ModelFactory} class). Both are initialised here and checked for
 * one input, one output and the job's number of outputs.
 */
final class UserModels {
    private UserModels() {
    }

    static Model fromJson(ModelSpec spec, ModelContext ctx) {
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

    static Model fromFactory(ModelSpec spec, ModelContext ctx) {
        String name = spec.factory();
        Class<?> cls;
        try {
            ClassLoader loader = Thread.currentThread().getContextClassLoader();
            cls = Class.forName(name, true, loader != null ? loader : UserModels.class.getClassLoader());
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
}
