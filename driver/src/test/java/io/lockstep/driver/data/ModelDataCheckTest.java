package io.lockstep.driver.data;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.job.ModelSetup;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** A network whose input or output width does not fit the data is refused on the driver, naming both sizes. */
class ModelDataCheckTest {
    @TempDir
    Path dir;

    static MultiLayerNetwork mlp(int in, int out) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(1).list()
            .layer(new DenseLayer.Builder().nIn(in).nOut(8).activation(Activation.RELU).build())
            .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(8).nOut(out)
                .activation(Activation.SOFTMAX).build())
            .build());
        net.init();
        return net;
    }

    static String error(Runnable check) {
        return assertThrows(ConfigLoader.ConfigException.class, check::run).getMessage();
    }

    @Test
    void multiLayerInputAndOutputWidthsAreChecked() {
        ModelDataCheck.check(mlp(64, 10), 64, 10, "net", "10 classes");
        assertEquals("net: the network takes 100 inputs (layer 0, DenseLayer nIn) but the data has 64 features per row",
            error(() -> ModelDataCheck.check(mlp(100, 10), 64, 10, "net", "10 classes")));
        assertEquals("net: the network has 5 outputs (layer 1, OutputLayer nOut) but the job needs 10 (10 classes)",
            error(() -> ModelDataCheck.check(mlp(64, 5), 64, 10, "net", "10 classes")));
    }

    @Test
    void graphInputLayersAndOutputLayerAreChecked() {
        ComputationGraph graph = new ComputationGraph(new NeuralNetConfiguration.Builder().seed(1).graphBuilder()
            .addInputs("in")
            .addLayer("h", new DenseLayer.Builder().nIn(30).nOut(8).build(), "in")
            .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nIn(8).nOut(1)
                .activation(Activation.IDENTITY).build(), "h")
            .setOutputs("out").build());
        graph.init();
        ModelDataCheck.check(graph, 30, 1, "g", "task regression");
        assertEquals("g: the network takes 30 inputs ('h', DenseLayer nIn) but the data has 13 features per row",
            error(() -> ModelDataCheck.check(graph, 13, 1, "g", "task regression")));
        assertEquals("g: the network has 1 outputs ('out', OutputLayer nOut) but the job needs 3 (3 classes)",
            error(() -> ModelDataCheck.check(graph, 30, 3, "g", "3 classes")));
    }

    @Test
    void imageNetworksAreCheckedThroughTheirInputType() {
        MultiLayerNetwork flat = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(1).list()
            .layer(new ConvolutionLayer.Builder(3, 3).nOut(4).build())
            .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(10).activation(Activation.SOFTMAX).build())
            .setInputType(InputType.convolutionalFlat(28, 28, 1))
            .build());
        flat.init();
        ModelDataCheck.check(flat, 784, 10, "cnn", "10 classes");
        assertEquals("cnn: the network takes 784 inputs (layer 0, ConvolutionLayer reading 28x28x1 images) but the data"
            + " has 64 features per row", error(() -> ModelDataCheck.check(flat, 64, 10, "cnn", "10 classes")));

        MultiLayerNetwork images = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(1).list()
            .layer(new ConvolutionLayer.Builder(3, 3).nIn(1).nOut(4).build())
            .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(4 * 26 * 26).nOut(10)
                .activation(Activation.SOFTMAX).build())
            .build());
        images.init();
        String message = error(() -> ModelDataCheck.check(images, 784, 10, "cnn", "10 classes"));
        assertTrue(message.startsWith("cnn: layer 0 (ConvolutionLayer) takes images, but rows come flat (784 features)"),
            message);
    }

    @Test
    void aJsonModelThatDoesNotFitTheDataIsRefusedWhenTheJobBuildsIt() throws IOException {
        Path json = Files.writeString(dir.resolve("net.json"), mlp(100, 10).getLayerWiseConfigurations().toJson());
        JobConfig cfg = JobConfig.defaults()
            .with("model.type", "json")
            .with("model.path", json.toString());
        var e = assertThrows(ConfigLoader.ConfigException.class,
            () -> ModelSetup.build(cfg, 64, null, 10, "classification", 100));
        assertEquals("model.path: " + json + ": the network takes 100 inputs (layer 0, DenseLayer nIn) but the data has"
            + " 64 features per row", e.getMessage());
        // the same file fits data of 100 features
        assertEquals(100 * 8 + 8 + 8 * 10 + 10,
            ModelSetup.build(cfg, 100, null, 10, "classification", 100).network().parameterCount());
    }
}
