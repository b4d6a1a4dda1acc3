package io.lockstep.worker.model;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToRnnPreProcessor;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The first dense layer that skips the input gradient: the same gradients, bit for bit, as DL4J's own
 * layer (with dropout on the input, L2, weight decay and layer norm), and installed only where nothing
 * could read that input gradient.
 */
class InputDenseLayerTest {

    private static MultiLayerConfiguration mlp(boolean dropout, boolean layerNorm) {
        return new NeuralNetConfiguration.Builder().seed(7).updater(new Adam(1e-3)).l2(1e-4).weightDecay(1e-3)
            .list()
            .layer(new DenseLayer.Builder().nIn(20).nOut(16).activation(Activation.RELU)
                .dropOut(dropout ? 0.8 : 0).hasLayerNorm(layerNorm).build())
            .layer(new DenseLayer.Builder().nIn(16).nOut(8).activation(Activation.TANH).build())
            .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(8).nOut(3)
                .activation(Activation.SOFTMAX).build())
            .build();
    }

    @ParameterizedTest(name = "dropout={0}")
    @ValueSource(booleans = {false, true})
    void gradientsAreDl4jsBitForBit(boolean dropout) {
        for (boolean layerNorm : new boolean[]{false, true}) {
            MultiLayerConfiguration conf = mlp(dropout, layerNorm);
            MultiLayerNetwork plain = new MultiLayerNetwork(conf);
            plain.init();
            float[] params = plain.params().toFloatVector();
            Network ours = Network.fromJson(conf.toJson(), params);
            assertInstanceOf(InputDenseLayer.class, ((MultiLayerNetwork) ours.dl4j()).getLayer(0));

            Random random = new Random(11);
            for (int batch = 0; batch < 3; batch++) {
                float[] xs = new float[32 * 20];
                for (int i = 0; i < xs.length; i++) xs[i] = (float) random.nextGaussian();
                INDArray x = Nd4j.create(xs, new long[]{32, 20}, 'c');
                INDArray y = Nd4j.zeros(32, 3);
                for (int i = 0; i < 32; i++) y.putScalar(i, random.nextInt(3), 1);
                Nd4j.getRandom().setSeed(100 + batch); // the same dropout masks for both
                plain.setInput(x);
                plain.setLabels(y);
                plain.computeGradientAndScore();
                double plainScore = plain.score();
                float[] want = plain.getFlattenedGradients().toFloatVector();
                Nd4j.getRandom().setSeed(100 + batch);
                double score = ours.computeGradient(x, y);
                assertEquals(plainScore, score, "score, batch " + batch);
                assertArrayEquals(want, ours.gradient().toFloatVector(), "gradient, batch " + batch
                    + " layerNorm " + layerNorm);
            }
        }
    }

    @org.junit.jupiter.api.Test
    void notInstalledWhereTheInputGradientCouldMatter() {
        // a preprocessor before layer 0 may read the input gradient in its backprop
        MultiLayerConfiguration withPreprocessor = mlp(false, false);
        withPreprocessor.getInputPreProcessors().put(0, new FeedForwardToRnnPreProcessor());
        MultiLayerNetwork a = new MultiLayerNetwork(withPreprocessor);
        a.init();
        assertFalse(InputDenseLayer.install(a));
        // a single-layer network: layer 0 is the output layer
        MultiLayerNetwork b = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().list()
            .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nIn(4).nOut(1)
                .activation(Activation.IDENTITY).build()).build());
        b.init();
        assertFalse(InputDenseLayer.install(b));
        // the plain case: installed once, and not again over itself
        MultiLayerNetwork c = new MultiLayerNetwork(mlp(false, false));
        c.init();
        assertTrue(InputDenseLayer.install(c));
        assertFalse(InputDenseLayer.install(c));
    }
}
