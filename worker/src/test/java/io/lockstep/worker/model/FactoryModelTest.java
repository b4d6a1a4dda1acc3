package io.lockstep.worker.model;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.learning.config.Adam;

import static org.junit.jupiter.api.Assertions.*;

/** model.type factory: a user's class builds the network; ModelBuilder initialises and checks it. */
class FactoryModelTest {
    static final ModelContext CTX = new ModelContext(64, 10, "classification", null,
        b -> b.updater(new Adam(3e-3)).l2(1e-5), 42);

    @Test
    void exampleFactoryBuildsAndTrains() {
        Model m = ModelBuilder.build(ModelSpec.factory(ExampleFactory.class.getName()), CTX);
        ComputationGraph graph = assertInstanceOf(ComputationGraph.class, m);
        assertNotNull(graph.params(), "initialised");
        assertEquals(new Adam(3e-3), ((BaseLayer) graph.getLayer("a").conf().getLayer()).getIUpdater(),
            "the job's updater, through ctx.configure");
        assertEquals(42, graph.getConfiguration().getDefaultConfiguration().getSeed());
        OutputLayer out = (OutputLayer) graph.getLayer("out").conf().getLayer();
        assertEquals(10, out.getNOut());
        assertEquals(Activation.SOFTMAX.getActivationFunction(), out.getActivationFn());
        // the same seed builds the same network
        assertEquals(graph.params(), ((ComputationGraph) ModelBuilder.build(
            ModelSpec.factory(ExampleFactory.class.getName()), CTX)).params());

        Network net = Network.of(graph);
        TestData.assertLearns(net, 10, 1, 30, 32);
        Network worker = Network.fromJson(net.toJson(), net.params().toFloatVector());
        assertEquals(net.output(TestData.batch(0, 8).getFeatures()), worker.output(TestData.batch(0, 8).getFeatures()));
    }

    /** Not a factory. */
    public static class NotAFactory {
    }

    /** No no-argument constructor. */
    public static class NeedsArguments implements ModelFactory {
        public NeedsArguments(int width) {
        }

        @Override
        public Model create(ModelContext ctx) {
            return null;
        }
    }

    public static class ReturnsNull implements ModelFactory {
        @Override
        public Model create(ModelContext ctx) {
            return null;
        }
    }

    public static class Fails implements ModelFactory {
        @Override
        public Model create(ModelContext ctx) {
            throw new IllegalStateException("no GPU here");
        }
    }

    public static class TwoInputs implements ModelFactory {
        @Override
        public Model create(ModelContext ctx) {
            return new ComputationGraph(new NeuralNetConfiguration.Builder().graphBuilder()
                .addInputs("a", "b")
                .addVertex("m", new MergeVertex(), "a", "b")
                .addLayer("out", ctx.outputLayer(2L * ctx.inputs()), "m")
                .setOutputs("out").build());
        }
    }

    public static class WrongOutputs implements ModelFactory {
        @Override
        public Model create(ModelContext ctx) {
            return new ComputationGraph(new NeuralNetConfiguration.Builder().graphBuilder()
                .addInputs("in")
                .addLayer("out", new OutputLayer.Builder().nIn(ctx.inputs()).nOut(4).build(), "in")
                .setOutputs("out").build());
        }
    }

    static String error(String className) {
        return assertThrows(IllegalArgumentException.class,
            () -> ModelBuilder.build(ModelSpec.factory(className), CTX)).getMessage();
    }

    @Test
    void badFactoriesAreRefusedNamingModelFactory() {
        String p = FactoryModelTest.class.getName() + "$";
        assertEquals("model.factory: class com.x.Y not found", error("com.x.Y"));
        assertEquals("model.factory: class " + p + "NotAFactory does not implement io.lockstep.worker.model.ModelFactory",
            error(p + "NotAFactory"));
        assertEquals("model.factory: class " + p + "NeedsArguments needs a public no-argument constructor",
            error(p + "NeedsArguments"));
        assertEquals("model.factory: " + p + "ReturnsNull.create returned null", error(p + "ReturnsNull"));
        assertEquals("model.factory: " + p + "Fails.create failed: no GPU here", error(p + "Fails"));
        assertEquals("model.factory: " + p + "TwoInputs built a ComputationGraph with 2 inputs and 1 outputs; "
            + "Lockstep trains graphs with exactly one input and one output", error(p + "TwoInputs"));
        assertEquals("model.factory: " + p + "WrongOutputs: the network has 4 outputs but the job needs 10",
            error(p + "WrongOutputs"));
    }
}
