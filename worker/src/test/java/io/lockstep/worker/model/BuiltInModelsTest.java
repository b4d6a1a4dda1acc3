package io.lockstep.worker.model;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.dropout.Dropout;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.List;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/** model.type mlp and lenet, dropout, and the task / loss pairing, on real DL4J networks. */
class BuiltInModelsTest {
    static final Consumer<NeuralNetConfiguration.Builder> ADAM = b -> b.updater(new Adam(1e-3));

    static ModelContext digits(Consumer<NeuralNetConfiguration.Builder> training) {
        return new ModelContext(64, 10, "classification", null, training, 42);
    }

    @Test
    void mlpHasTheTasksOutputLayer() {
        MultiLayerNetwork net = (MultiLayerNetwork) ModelBuilder.build(ModelSpec.mlp(List.of(32, 16), Activation.TANH),
            digits(ADAM));
        assertEquals(3, net.getnLayers());
        assertEquals(64 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10, net.numParams());
        OutputLayer out = (OutputLayer) net.getLayerWiseConfigurations().getConf(2).getLayer();
        assertEquals(Activation.SOFTMAX.getActivationFunction(), out.getActivationFn());
        assertEquals(LossFunctions.LossFunction.MCXENT.getILossFunction(), out.getLossFn());
        assertEquals(new Adam(1e-3), out.getIUpdater());

        MultiLayerNetwork binary = (MultiLayerNetwork) ModelBuilder.build(ModelSpec.mlp(List.of(8), Activation.RELU),
            new ModelContext(5, 1, "binary", null, ADAM, 1));
        OutputLayer b = (OutputLayer) binary.getLayerWiseConfigurations().getConf(1).getLayer();
        assertEquals(1, b.getNOut());
        assertEquals(Activation.SIGMOID.getActivationFunction(), b.getActivationFn());
        assertEquals(LossFunctions.LossFunction.XENT.getILossFunction(), b.getLossFn());

        MultiLayerNetwork regression = (MultiLayerNetwork) ModelBuilder.build(ModelSpec.mlp(List.of(8), Activation.RELU),
            new ModelContext(5, 3, "regression", "mae", ADAM, 1));
        OutputLayer r = (OutputLayer) regression.getLayerWiseConfigurations().getConf(1).getLayer();
        assertEquals(3, r.getNOut());
        assertEquals(Activation.IDENTITY.getActivationFunction(), r.getActivationFn());
        assertEquals(LossFunctions.LossFunction.MEAN_ABSOLUTE_ERROR.getILossFunction(), r.getLossFn());
    }

    /** Models.mlp, which the driver calls today, must build exactly what it built before ModelBuilder. */
    @Test
    void modelsMlpIsUnchanged() {
        for (String loss : List.of("cross_entropy", "mse")) {
            IUpdater updater = Models.optimizer("rmsprop", 0.005);
            assertEquals(oldMlp(64, List.of(24, 12), "tanh", 10, loss, updater, 7).toJson(),
                Models.mlp(64, List.of(24, 12), "tanh", 10, loss, updater, 7).toJson());
            assertEquals(oldMlp(784, List.of(256, 128), "relu", 10, loss, updater, 42).toJson(),
                Models.mlp(784, List.of(256, 128), "relu", 10, loss, updater, 42).toJson());
        }
    }

    /** The body of Models.mlp before this branch, verbatim. */
    static MultiLayerConfiguration oldMlp(int nIn, List<Integer> hidden, String activation, int nOut,
                                          String loss, IUpdater updater, long seed) {
        Activation act = Models.activation(activation);
        NeuralNetConfiguration.ListBuilder list = new NeuralNetConfiguration.Builder()
            .seed(seed)
            .updater(updater)
            .weightInit(act == Activation.RELU || act == Activation.LEAKYRELU ? WeightInit.RELU : WeightInit.XAVIER)
            .list();
        int prev = nIn;
        for (int width : hidden) {
            list.layer(new DenseLayer.Builder().nIn(prev).nOut(width).activation(act).build());
            prev = width;
        }
        LossFunctions.LossFunction lossFunction = Models.loss(loss);
        Activation out = lossFunction == LossFunctions.LossFunction.MCXENT ? Activation.SOFTMAX : Activation.IDENTITY;
        list.layer(new OutputLayer.Builder(lossFunction).nIn(prev).nOut(nOut).activation(out)
            .weightInit(WeightInit.XAVIER).build());
        return list.build();
    }

    @Test
    void lenetOn28x28UsesTheClassicUnpaddedLayoutAndLearns() {
        ModelContext ctx = new ModelContext(784, 10, "classification", null, b -> b.updater(new Adam(1e-3)), 42);
        MultiLayerNetwork net = (MultiLayerNetwork) ModelBuilder.build(ModelSpec.lenet(null), ctx);
        // conv 5x5x1x20 + 20, conv 5x5x20x50 + 50, dense 4*4*50 x 500 + 500, output 500 x 10 + 10
        assertEquals(520 + 25_050 + 400_500 + 5_010, net.numParams());
        assertEquals(ConvolutionMode.Truncate,
            ((ConvolutionLayer) net.getLayerWiseConfigurations().getConf(0).getLayer()).getConvolutionMode());
        TestData.assertLearns(Network.of(net), 10, 3, 12, 32);
    }

    @Test
    void lenetOn8x8PadsAndLearns() {
        MultiLayerNetwork net = (MultiLayerNetwork) ModelBuilder.build(ModelSpec.lenet(null), digits(
            b -> b.updater(new Adam(1e-3))));
        // Same padding: 8x8 -> 8x8x20 -> 4x4x20 -> 4x4x50 -> 2x2x50 -> 500
        assertEquals(520 + 25_050 + (2 * 2 * 50 * 500 + 500) + 5_010, net.numParams());
        assertEquals(ConvolutionMode.Same,
            ((ConvolutionLayer) net.getLayerWiseConfigurations().getConf(0).getLayer()).getConvolutionMode());
        TestData.assertLearns(Network.of(net), 10, 1, 30, 32);
    }

    @Test
    void lenetTakesAnExplicitInputShape() {
        // 2 channels of 4x8: rows are channel-major
        ModelContext ctx = new ModelContext(64, 10, "classification", null, ADAM, 1);
        Model m = ModelBuilder.build(ModelSpec.lenet(List.of(4, 8, 2)), ctx);
        INDArray out = Network.of(m).output(TestData.batch(0, 3).getFeatures());
        assertArrayEquals(new long[]{3, 10}, out.shape());
        assertArrayEquals(new int[]{4, 8, 2}, ModelBuilder.imageShape(ModelSpec.lenet(List.of(4, 8, 2)), ctx));
        assertArrayEquals(new int[]{28, 28, 1}, ModelBuilder.imageShape(ModelSpec.lenet(null),
            new ModelContext(784, 10, "classification", null, ADAM, 1)));
    }

    @Test
    void dropoutIsTheDropProbabilityOnLayersReadingHiddenUnits() {
        MultiLayerConfiguration conf = ModelBuilder.mlpConfig(ModelSpec.mlp(List.of(32, 16), Activation.RELU).withDropout(0.25),
            digits(ADAM));
        assertNull(conf.getConf(0).getLayer().getIDropout(), "never on the input features");
        assertEquals(0.75, ((Dropout) conf.getConf(1).getLayer().getIDropout()).getP(), 0, "DL4J's retain probability");
        assertEquals(0.75, ((Dropout) conf.getConf(2).getLayer().getIDropout()).getP(), 0);
        MultiLayerConfiguration lenet = ModelBuilder.lenetConfig(ModelSpec.lenet(null).withDropout(0.5), digits(ADAM));
        for (int i = 0; i < 5; i++) {
            assertNull(lenet.getConf(i).getLayer().getIDropout());
        }
        assertEquals(0.5, ((Dropout) lenet.getConf(5).getLayer().getIDropout()).getP(), 0, "after dense 500");
    }

    @Test
    void dropoutChangesTrainingOutputsButNotInference() {
        ModelSpec plain = ModelSpec.mlp(List.of(32, 16), Activation.RELU);
        MultiLayerNetwork with = (MultiLayerNetwork) ModelBuilder.build(plain.withDropout(0.5), digits(ADAM));
        MultiLayerNetwork without = (MultiLayerNetwork) ModelBuilder.build(plain, digits(ADAM));
        assertEquals(without.params(), with.params(), "dropout must not change the initial weights");
        DataSet batch = TestData.batch(0, 64);
        INDArray x = batch.getFeatures();

        assertEquals(without.output(x, false), with.output(x, false), "inference: no dropout");
        assertEquals(with.output(x, false), with.output(x, false));
        assertEquals(without.output(x, true), without.output(x, false));
        assertTrue(TestData.maxDiff(with.output(x, true), with.output(x, false)) > 1e-3, "training: dropout");

        Network n = Network.of(with);
        double first = n.computeGradient(x, batch.getLabels());
        double second = n.computeGradient(x, batch.getLabels());
        assertNotEquals(first, second, "each training pass draws a new mask");
        Network m = Network.of(without);
        assertEquals(m.computeGradient(x, batch.getLabels()), m.computeGradient(x, batch.getLabels()));
    }

    @Test
    void nonsenseTaskAndLossPairsAreRefusedNamingBoth() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> new ModelContext(10, 1, "binary", "cross_entropy", ADAM, 1));
        assertTrue(e.getMessage().startsWith("loss 'cross_entropy' does not fit task 'binary'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
            () -> new ModelContext(10, 3, "regression", "cross_entropy", ADAM, 1));
        assertTrue(e.getMessage().startsWith("loss 'cross_entropy' does not fit task 'regression'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
            () -> new ModelContext(10, 3, "classification", "binary_cross_entropy", ADAM, 1));
        assertTrue(e.getMessage().startsWith("loss 'binary_cross_entropy' does not fit task 'classification'"),
            e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
            () -> new ModelContext(10, 2, "binary", null, ADAM, 1));
        assertTrue(e.getMessage().contains("task binary has one output unit"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
            () -> new ModelContext(10, 2, "clustering", null, ADAM, 1));
        assertTrue(e.getMessage().startsWith("task must be one of classification, binary, regression"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new ModelContext(10, 2, null, "hinge", ADAM, 1));
        assertEquals("loss: unknown 'hinge' (cross_entropy, binary_cross_entropy, mse, mae)", e.getMessage());

        assertEquals("cross_entropy", new ModelContext(10, 4, "classification", null, ADAM, 1).loss());
        assertEquals("binary_cross_entropy", new ModelContext(10, 1, "binary", null, ADAM, 1).loss());
        assertEquals("mse", new ModelContext(10, 2, "regression", null, ADAM, 1).loss());
        assertEquals(Activation.SIGMOID, new ModelContext(10, 1, "binary", "mse", ADAM, 1).outputActivation());
    }
}
