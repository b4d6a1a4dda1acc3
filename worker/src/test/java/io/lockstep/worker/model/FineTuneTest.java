package io.lockstep.worker.model;

import io.lockstep.worker.optim.OptimizerSpec;
import io.lockstep.worker.optim.Optimizers;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.dropout.Dropout;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.learning.regularization.L2Regularization;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.learning.regularization.WeightDecay;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.*;

/**
 * model.init_from with freeze_layers and replace_output: a model trained and saved with ModelSerializer,
 * fine-tuned to 3 classes through the manual step the workers take.
 */
class FineTuneTest {
    static final Consumer<NeuralNetConfiguration.Builder> SGD = b -> b.updater(new Sgd(0.1));
    static final ModelContext THREE = new ModelContext(64, 3, "classification", null, SGD, 99);

    @TempDir
    Path dir;

    /** Trains a 64-32-16-10 MLP (Adam, l2) for a few steps and saves it the way Lockstep writes model.zip. */
    File savedMlp() throws IOException {
        ModelContext ten = new ModelContext(64, 10, "classification", null,
            b -> b.updater(new Adam(0.01)).l2(1e-4), 7);
        Network net = Network.of(ModelBuilder.build(ModelSpec.mlp(List.of(32, 16), Activation.RELU), ten));
        for (int s = 0; s < 10; s++) {
            TestData.step(net, TestData.batch(32 * s, 32), s);
        }
        File zip = dir.resolve("mlp.zip").toFile();
        ModelSerializer.writeModel(net.dl4j(), zip, true);
        return zip;
    }

    File savedGraph() throws IOException {
        ComputationGraph graph = new ComputationGraph(JsonModelTest.graphConf(10));
        graph.init();
        Network net = Network.of(graph);
        for (int s = 0; s < 10; s++) {
            TestData.step(net, TestData.batch(32 * s, 32), s);
        }
        File zip = dir.resolve("graph.zip").toFile();
        ModelSerializer.writeModel(graph, zip, true);
        return zip;
    }

    @Test
    void multiLayerFrozenLayerKeepsItsParametersBitForBit() throws IOException {
        File zip = savedMlp();
        MultiLayerNetwork saved = ModelSerializer.restoreMultiLayerNetwork(zip);
        MultiLayerNetwork tuned = (MultiLayerNetwork) ModelBuilder.build(
            ModelSpec.mlp(null, null).withInitFrom(zip.getPath(), 1, true), THREE);

        // the configuration: layer 0 frozen, the job's updater elsewhere, the saved l2 gone, a 3-class head
        assertInstanceOf(FrozenLayer.class, tuned.getLayerWiseConfigurations().getConf(0).getLayer());
        BaseLayer hidden = (BaseLayer) tuned.getLayerWiseConfigurations().getConf(1).getLayer();
        assertEquals(new Sgd(0.1), hidden.getIUpdater());
        assertTrue(hidden.getRegularization().isEmpty(), "the job sets no l2: the saved one is removed");
        OutputLayer out = (OutputLayer) tuned.getLayerWiseConfigurations().getConf(2).getLayer();
        assertEquals(3, out.getNOut());
        assertEquals(16, out.getNIn());
        assertEquals(Activation.SOFTMAX.getActivationFunction(), out.getActivationFn());
        assertEquals(new Sgd(0.1), out.getIUpdater());
        // the kept layers start from the saved parameters
        assertEquals(saved.getLayer(0).params(), tuned.getLayer(0).params());
        assertEquals(saved.getLayer(1).params(), tuned.getLayer(1).params());

        assertFrozenThroughManualSteps(tuned, i -> ((MultiLayerNetwork) i).getLayer(0).params(),
            i -> ((MultiLayerNetwork) i).getLayer(1).params(), i -> ((MultiLayerNetwork) i).getLayer(2).params(),
            saved.getLayer(0).params(), saved.getLayer(1).params());
    }

    @Test
    void graphFrozenLayerKeepsItsParametersBitForBit() throws IOException {
        File zip = savedGraph();
        ComputationGraph saved = ModelSerializer.restoreComputationGraph(zip);
        ComputationGraph tuned = (ComputationGraph) ModelBuilder.build(
            ModelSpec.mlp(null, null).withInitFrom(zip.getPath(), 1, true), THREE);

        assertEquals(List.of("h1", "h2", "out"), FineTune.layerVertices(tuned));
        assertInstanceOf(org.deeplearning4j.nn.layers.FrozenLayer.class, tuned.getLayer("h1"));
        assertFalse(tuned.getLayer("h2") instanceof org.deeplearning4j.nn.layers.FrozenLayer);
        OutputLayer out = (OutputLayer) tuned.getLayer("out").conf().getLayer();
        assertEquals(3, out.getNOut());
        assertEquals(36, out.getNIn(), "the new head reads the merge vertex, as the old one did");
        assertEquals(new Sgd(0.1), ((BaseLayer) tuned.getLayer("h2").conf().getLayer()).getIUpdater());
        assertTrue(((BaseLayer) tuned.getLayer("h2").conf().getLayer()).getRegularization().isEmpty(),
            "the saved weight decay is removed: the job sets none");
        assertEquals(saved.getLayer("h1").params(), tuned.getLayer("h1").params());
        assertEquals(saved.getLayer("h2").params(), tuned.getLayer("h2").params());

        assertFrozenThroughManualSteps(tuned, i -> ((ComputationGraph) i).getLayer("h1").params(),
            i -> ((ComputationGraph) i).getLayer("h2").params(), i -> ((ComputationGraph) i).getLayer("out").params(),
            saved.getLayer("h1").params(), saved.getLayer("h2").params());
    }

    /**
     * Trains the fine-tuned network through Network's manual step, both wrapped directly and rebuilt from
     * its JSON and parameters (as the workers get it), and against DL4J's own fit: the frozen layer must
     * end bit-identical to the saved one, the others must move, and all three copies must agree.
     */
    static void assertFrozenThroughManualSteps(Model tuned, Function<Model, INDArray> frozen,
                                               Function<Model, INDArray> trainable, Function<Model, INDArray> head,
                                               INDArray savedFrozen, INDArray savedTrainable) {
        Network direct = Network.of(tuned);
        float[] init = direct.params().toFloatVector();
        Network worker = Network.fromJson(direct.toJson(), init);
        Network dl4jFit = Network.fromJson(direct.toJson(), init);
        Network raw = Network.fromJson(direct.toJson(), init);
        INDArray headBefore = head.apply(tuned).dup();

        long frozenParams = savedFrozen.length();
        for (Network n : List.of(direct, worker)) {
            assertEquals(1, n.frozenViews().size());
            assertEquals(frozenParams, n.frozenViews().get(0).length());
        }

        for (int s = 0; s < 8; s++) {
            DataSet b = TestData.batch(32 * s, 32, 3, 1);
            TestData.step(direct, b, s);
            worker.computeGradient(b.getFeatures(), b.getLabels());
            assertEquals(0.0, worker.frozenViews().get(0).amaxNumber().doubleValue(), "frozen gradient slice");
            worker.toBatchMean(b.numExamples());
            if (s == 3) {
                // an exchange could bring anything back into the frozen slice: the step must still not move it
                worker.frozenViews().get(0).assign(0.5);
            }
            worker.applyUpdate(s, 0);
            TestData.fit(dl4jFit.dl4j(), b);

            // what DL4J itself leaves in the frozen slice after a backward pass, without Network's zeroing
            raw.forwardBackward(b.getFeatures(), b.getLabels()); // DL4J's computeGradientAndScore only
            assertEquals(0.0, raw.frozenViews().get(0).amaxNumber().doubleValue(),
                "DL4J writes nothing into a FrozenLayer's gradient slice");
        }

        for (Network n : List.of(direct, worker, dl4jFit)) {
            assertArrayEquals(savedFrozen.toFloatVector(), frozen.apply(n.dl4j()).toFloatVector(),
                "frozen layer moved in " + n);
            assertTrue(TestData.maxDiff(savedTrainable, trainable.apply(n.dl4j())) > 1e-3, "trainable layer did not move");
            assertTrue(TestData.maxDiff(headBefore, head.apply(n.dl4j())) > 1e-3, "new output layer did not move");
        }
        assertArrayEquals(direct.params().toFloatVector(), worker.params().toFloatVector(),
            "wrapped directly and rebuilt from JSON: the same steps");
        double d = TestData.maxDiff(dl4jFit.params(), direct.params());
        assertTrue(d <= 1e-6, "manual steps vs DL4J fit: max abs difference " + d);
        TestData.assertLearns(worker, 3, 1, 30, 32, 0.95); // digit mod 3 through a frozen first layer: slower
    }

    /** DL4J's transfer learning lists the job's weight decay twice in every layer, like its builder: kept once. */
    @Test
    void weightDecayIsAppliedOnce() throws IOException {
        ModelContext adamW = new ModelContext(64, 3, "classification", null, b -> Optimizers.configure(b,
            OptimizerSpec.builder(OptimizerSpec.Type.ADAMW, 1e-3).weightDecay(0.05).build(), 1, 10), 99);
        List<Regularization> once = List.of(new WeightDecay(0.05, true));
        MultiLayerNetwork tuned = (MultiLayerNetwork) ModelBuilder.build(
            ModelSpec.mlp(null, null).withInitFrom(savedMlp().getPath(), 1, true), adamW);
        for (int i = 1; i < 3; i++) {
            assertEquals(once, ((BaseLayer) tuned.getLayerWiseConfigurations().getConf(i).getLayer()).getRegularization());
        }
        ComputationGraph graph = (ComputationGraph) ModelBuilder.build(
            ModelSpec.mlp(null, null).withInitFrom(savedGraph().getPath(), 1, true), adamW);
        for (String name : List.of("h2", "out")) {
            assertEquals(once, ((BaseLayer) graph.getLayer(name).conf().getLayer()).getRegularization());
        }
    }

    @Test
    void initFromWithoutReplacingTheOutputContinuesTheSavedModel() throws IOException {
        File zip = savedMlp();
        MultiLayerNetwork saved = ModelSerializer.restoreMultiLayerNetwork(zip);
        ModelContext ten = new ModelContext(64, 10, "classification", null, SGD, 1);
        MultiLayerNetwork tuned = (MultiLayerNetwork) ModelBuilder.build(
            ModelSpec.mlp(null, null).withInitFrom(zip.getPath(), 0, false), ten);
        assertEquals(saved.params(), tuned.params());
        assertEquals(saved.getLayerWiseConfigurations().getConf(2).getLayer().getClass(),
            tuned.getLayerWiseConfigurations().getConf(2).getLayer().getClass());
        assertEquals(new Sgd(0.1), ((BaseLayer) tuned.getLayerWiseConfigurations().getConf(2).getLayer()).getIUpdater());
        Network net = Network.of(tuned);
        assertTrue(net.frozenViews().isEmpty());
        DataSet b = TestData.batch(0, 64);
        assertEquals(saved.output(b.getFeatures(), false), net.output(b.getFeatures()));

        ComputationGraph savedGraph = ModelSerializer.restoreComputationGraph(savedGraph());
        ComputationGraph graph = (ComputationGraph) ModelBuilder.build(
            ModelSpec.mlp(null, null).withInitFrom(dir.resolve("graph.zip").toString(), 2, false), ten);
        assertEquals(savedGraph.params(), graph.params());
        assertEquals(2, Network.of(graph).frozenViews().size());
    }

    @Test
    void initFromKeepsTheJobsRegularizationAndAppliesDropout() throws IOException {
        File zip = savedMlp();
        ModelContext l2 = new ModelContext(64, 3, "classification", null, b -> b.updater(new Sgd(0.1)).l2(5e-4), 1);
        MultiLayerNetwork tuned = (MultiLayerNetwork) ModelBuilder.build(
            ModelSpec.mlp(null, null).withDropout(0.2).withInitFrom(zip.getPath(), 0, true), l2);
        for (int i = 0; i < 3; i++) {
            BaseLayer layer = (BaseLayer) tuned.getLayerWiseConfigurations().getConf(i).getLayer();
            assertEquals(List.of(new L2Regularization(5e-4)), layer.getRegularization(), "layer " + i);
            if (i == 0) {
                assertNull(layer.getIDropout(), "never on the input features");
            } else {
                assertEquals(0.8, ((Dropout) layer.getIDropout()).getP(), 1e-12, "layer " + i);
            }
        }
    }

    @Test
    void replacedOutputWeightsComeFromTheSeed() throws IOException {
        File zip = savedMlp();
        ModelSpec spec = ModelSpec.mlp(null, null).withInitFrom(zip.getPath(), 1, true);
        MultiLayerNetwork a = (MultiLayerNetwork) ModelBuilder.build(spec, THREE);
        MultiLayerNetwork b = (MultiLayerNetwork) ModelBuilder.build(spec, THREE);
        MultiLayerNetwork c = (MultiLayerNetwork) ModelBuilder.build(spec,
            new ModelContext(64, 3, "classification", null, SGD, 100));
        assertEquals(a.params(), b.params());
        assertNotEquals(a.getLayer(2).params(), c.getLayer(2).params());
    }

    @Test
    void badInitFromSettingsAreRefusedNamingTheKey() throws IOException {
        File zip = savedMlp();
        ModelSpec base = ModelSpec.mlp(null, null);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> ModelBuilder.build(base.withInitFrom(zip.getPath(), 5, true), THREE));
        assertEquals("model.freeze_layers is 5 but the network has 3 layers (at most 2)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
            () -> ModelBuilder.build(base.withInitFrom(zip.getPath(), 3, true), THREE));
        assertEquals("model.freeze_layers is 3 but the network has 3 layers and its output layer cannot be frozen "
            + "(at most 2)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
            () -> ModelBuilder.build(base.withInitFrom(zip.getPath(), 1, false), THREE));
        assertEquals("model.replace_output: " + zip.getPath() + " has 10 outputs but the job needs 3; set "
            + "model.replace_output: true to train a new output layer", e.getMessage());

        String missing = dir.resolve("nope.zip").toString();
        e = assertThrows(IllegalArgumentException.class, () -> ModelBuilder.build(base.withInitFrom(missing, 0, true),
            THREE));
        assertEquals("model.init_from: file not found: " + missing, e.getMessage());

        Path notAModel = dir.resolve("other.zip");
        try (var out = new java.util.zip.ZipOutputStream(Files.newOutputStream(notAModel))) {
            out.putNextEntry(new java.util.zip.ZipEntry("hello.txt"));
            out.write("hi".getBytes());
        }
        e = assertThrows(IllegalArgumentException.class,
            () -> ModelBuilder.build(base.withInitFrom(notAModel.toString(), 0, true), THREE));
        assertTrue(e.getMessage().startsWith("model.init_from: " + notAModel + " is neither a DL4J MultiLayerNetwork "
            + "nor a ComputationGraph saved by ModelSerializer"), e.getMessage());

        File graphZip = savedGraph();
        e = assertThrows(IllegalArgumentException.class,
            () -> ModelBuilder.build(base.withInitFrom(graphZip.getPath(), 4, true), THREE));
        assertEquals("model.freeze_layers is 4 but the network has 3 layers (at most 2)", e.getMessage());
    }

    @Test
    void theSavedLossIsKeptUnlessTheOutputIsReplaced() throws IOException {
        File zip = savedMlp();
        ModelContext mse = new ModelContext(64, 10, "classification", "mse", SGD, 1);
        MultiLayerNetwork kept = (MultiLayerNetwork) ModelBuilder.build(
            ModelSpec.mlp(null, null).withInitFrom(zip.getPath(), 0, false), mse);
        assertEquals(LossFunctions.LossFunction.MCXENT.getILossFunction(),
            ((OutputLayer) kept.getLayerWiseConfigurations().getConf(2).getLayer()).getLossFn());
        MultiLayerNetwork replaced = (MultiLayerNetwork) ModelBuilder.build(
            ModelSpec.mlp(null, null).withInitFrom(zip.getPath(), 0, true), mse);
        assertEquals(LossFunctions.LossFunction.MSE.getILossFunction(),
            ((OutputLayer) replaced.getLayerWiseConfigurations().getConf(2).getLayer()).getLossFn());
        assertFalse(Arrays.equals(kept.getLayer(2).params().toFloatVector(),
            replaced.getLayer(2).params().toFloatVector()));
    }
}
