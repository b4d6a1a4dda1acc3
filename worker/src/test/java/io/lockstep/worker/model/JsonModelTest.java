package io.lockstep.worker.model;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** model.type json: both DL4J configuration kinds, and a manual step equal to DL4J's own fit. */
class JsonModelTest {
    static final ModelContext CTX = new ModelContext(64, 10, "classification", null, null, 42);

    @TempDir
    Path dir;

    /** in → h1 → h2, merge(h1, h2) → out: a real graph, not a chain, with weight decay and Adam. */
    static ComputationGraphConfiguration graphConf(int outputs) {
        return new NeuralNetConfiguration.Builder().seed(11).updater(new Adam(0.01)).weightDecay(1e-3)
            .graphBuilder()
            .addInputs("in")
            .addLayer("h1", new DenseLayer.Builder().nIn(64).nOut(24).activation(Activation.RELU).build(), "in")
            .addLayer("h2", new DenseLayer.Builder().nIn(24).nOut(12).activation(Activation.TANH).build(), "h1")
            .addVertex("merge", new MergeVertex(), "h1", "h2")
            .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(36).nOut(outputs)
                .activation(Activation.SOFTMAX).build(), "merge")
            .setOutputs("out")
            .build();
    }

    Path write(String name, String json) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, json);
        return p;
    }

    @Test
    void multiLayerJsonStepEqualsDl4jFit() throws IOException {
        String json = new NeuralNetConfiguration.Builder().seed(5).updater(new Adam(0.01)).l2(1e-4).list()
            .layer(new DenseLayer.Builder().nIn(64).nOut(20).activation(Activation.RELU).build())
            .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(20).nOut(10)
                .activation(Activation.SOFTMAX).build())
            .build().toJson();
        Model m = ModelBuilder.build(ModelSpec.json(write("mln.json", json).toString()), CTX);
        assertInstanceOf(MultiLayerNetwork.class, m);
        assertManualStepEqualsFit(Network.of(m));
    }

    @Test
    void graphJsonStepEqualsDl4jFit() throws IOException {
        Model m = ModelBuilder.build(ModelSpec.json(write("cg.json", graphConf(10).toJson()).toString()), CTX);
        assertInstanceOf(ComputationGraph.class, m);
        assertManualStepEqualsFit(Network.of(m));
    }

    /** computeGradient → toBatchMean → applyUpdate on one copy, DL4J's fit on another: same parameters. */
    static void assertManualStepEqualsFit(Network ours) {
        float[] init = ours.params().toFloatVector();
        Network theirs = Network.fromJson(ours.toJson(), init);
        for (int s = 0; s < 2; s++) { // the second step exercises Adam's state and bias correction
            DataSet b = TestData.batch(32 * s, 32);
            TestData.step(ours, b, s);
            TestData.fit(theirs.dl4j(), b);
            double d = TestData.maxDiff(theirs.params(), ours.params());
            assertTrue(d <= 1e-6, "step " + s + ": max abs difference " + d);
        }
        assertTrue(TestData.maxDiff(ours.params(), Network.fromJson(ours.toJson(), init).params()) > 1e-3,
            "the steps must have moved the parameters");
    }

    @Test
    void badJsonFilesAreRefusedNamingModelPath() throws IOException {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> ModelBuilder.build(ModelSpec.json(dir.resolve("missing.json").toString()), CTX));
        assertTrue(e.getMessage().startsWith("model.path: cannot read ") && e.getMessage().endsWith("file not found"),
            e.getMessage());

        Path junk = write("junk.json", "{\"hello\": 1}");
        e = assertThrows(IllegalArgumentException.class, () -> ModelBuilder.build(ModelSpec.json(junk.toString()), CTX));
        assertTrue(e.getMessage().startsWith("model.path: " + junk + " is not a DL4J MultiLayerConfiguration or "
            + "ComputationGraphConfiguration JSON"), e.getMessage());

        ComputationGraphConfiguration twoInputs = new NeuralNetConfiguration.Builder().graphBuilder()
            .addInputs("a", "b")
            .addVertex("merge", new MergeVertex(), "a", "b")
            .addLayer("out", new OutputLayer.Builder().nIn(128).nOut(10).activation(Activation.SOFTMAX).build(), "merge")
            .setOutputs("out").build();
        Path two = write("two.json", twoInputs.toJson());
        e = assertThrows(IllegalArgumentException.class, () -> ModelBuilder.build(ModelSpec.json(two.toString()), CTX));
        assertEquals("model.path: " + two + " is a ComputationGraph with 2 inputs and 1 outputs; Lockstep trains "
            + "graphs with exactly one input and one output", e.getMessage());

        Path three = write("three.json", graphConf(3).toJson());
        e = assertThrows(IllegalArgumentException.class, () -> ModelBuilder.build(ModelSpec.json(three.toString()), CTX));
        assertEquals("model.path: " + three + ": the network has 3 outputs but the job needs 10", e.getMessage());
    }

    @Test
    void graphJsonIsDetected() {
        assertTrue(Network.isGraphJson(graphConf(10).toJson()));
        assertFalse(Network.isGraphJson(Models.mlp(64, List.of(8), "relu", 10, "mse", new Adam(), 1).toJson()));
    }
}
