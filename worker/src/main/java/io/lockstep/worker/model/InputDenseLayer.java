package io.lockstep.worker.model;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.feedforward.dense.DenseLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.params.DefaultParamInitializer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.custom.LayerNormBp;
import org.nd4j.linalg.factory.Nd4j;

/**
 * DL4J's dense layer as the first layer of a network that trains: its backward pass computes the weight
 * and bias gradients exactly as DL4J's does (the same calls, so bit-identical gradients) but not the
 * gradient with respect to the network's input, which DL4J computes for every first layer and then throws
 * away ({@code MultiLayerNetwork.calcBackpropGradients} keeps it only for external-error use). For the
 * MNIST MLP that product is a third of the backward pass's floating-point work ({@code W · δᵀ}: 784 × 256
 * per sample).
 *
 * <p>Installed by {@link #install} in place of layer 0 of a {@link MultiLayerNetwork}, sharing its
 * configuration, parameter and gradient views; the model's configuration (and so model.zip) does not
 * change. Not installed where the input gradient could matter: a layer 0 with an input preprocessor, or of
 * any other class (frozen layers, convolutions).
 */
final class InputDenseLayer extends DenseLayer {

    private InputDenseLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    /** Puts an input dense layer in place of {@code net}'s layer 0 where that is DL4J's plain dense layer; true if so. */
    static boolean install(MultiLayerNetwork net) {
        Layer[] layers = net.getLayers();
        if (layers.length < 2 || layers[0].getClass() != DenseLayer.class
            || net.getLayerWiseConfigurations().getInputPreProcess(0) != null) {
            return false;
        }
        if (net.getFlattenedGradients() == null) {
            net.initGradientsView(); // DL4J sets the layers' gradient views lazily: before the swap, so both share them
        }
        DenseLayer dl4j = (DenseLayer) layers[0];
        InputDenseLayer mine = new InputDenseLayer(dl4j.conf(), dl4j.getParam(DefaultParamInitializer.WEIGHT_KEY).dataType());
        mine.setListeners(dl4j.getListeners());
        mine.setIndex(dl4j.getIndex());
        mine.setParamsViewArray(dl4j.params());
        mine.setParamTable(dl4j.paramTable());
        mine.setConf(dl4j.conf());
        mine.setBackpropGradientsViewArray(dl4j.getGradientsViewArray());
        layers[0] = mine; // the network's own array: getLayers() does not copy
        return true;
    }

    /** {@code BaseLayer.backpropGradient} without {@code epsilonNext}: the caller gets null, as for an embedding. */
    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        Pair<INDArray, INDArray> zAndPreNorm = preOutputWithPreNorm(true, true, workspaceMgr);
        INDArray z = zAndPreNorm.getFirst();
        INDArray preNorm = zAndPreNorm.getSecond();
        INDArray delta = layerConf().getActivationFn().backprop(z, epsilon).getFirst();
        if (maskArray != null) {
            applyMask(delta);
        }
        Gradient ret = new DefaultGradient();
        if (hasBias()) {
            INDArray biasGrad = gradientViews.get(DefaultParamInitializer.BIAS_KEY);
            delta.sum(biasGrad, 0);
            ret.gradientForVariable().put(DefaultParamInitializer.BIAS_KEY, biasGrad);
        }
        if (hasLayerNorm()) {
            INDArray g = getParam(DefaultParamInitializer.GAIN_KEY);
            INDArray dldg = gradientViews.get(DefaultParamInitializer.GAIN_KEY);
            Nd4j.getExecutioner().exec(new LayerNormBp(preNorm, g, delta, delta, dldg, true, 1));
            ret.gradientForVariable().put(DefaultParamInitializer.GAIN_KEY, dldg);
        }
        INDArray weightGrad = gradientViews.get(DefaultParamInitializer.WEIGHT_KEY);
        Nd4j.gemm(input.castTo(weightGrad.dataType()), delta, weightGrad, true, false, 1.0, 0.0);
        ret.gradientForVariable().put(DefaultParamInitializer.WEIGHT_KEY, weightGrad);
        weightNoiseParams.clear();
        return new Pair<>(ret, null);
    }
}
