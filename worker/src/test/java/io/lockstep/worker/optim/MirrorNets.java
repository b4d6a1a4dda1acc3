package io.lockstep.worker.optim;

import io.lockstep.worker.model.ModelBuilder;
import io.lockstep.worker.model.ModelContext;
import io.lockstep.worker.model.ModelSpec;
import io.lockstep.worker.model.Network;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.File;
import java.io.IOException;
import java.util.List;
import java.util.function.Consumer;

/** The networks the mirror tests train on the digits (64 features, 10 classes), each configured by an {@link OptimizerSpec}. */
final class MirrorNets {
    static final long TOTAL_STEPS = 100;

    private MirrorNets() {
    }

    static NeuralNetConfiguration.Builder builder(OptimizerSpec spec, int workers) {
        NeuralNetConfiguration.Builder b = new NeuralNetConfiguration.Builder().seed(7).weightInit(WeightInit.XAVIER);
        Optimizers.configure(b, spec, workers, TOTAL_STEPS);
        return b;
    }

    static OutputLayer output(int nIn) {
        return new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(nIn).nOut(10)
            .activation(Activation.SOFTMAX).build();
    }

    /** 64 → 32 relu → 16 tanh → 10 softmax. */
    static Network mlp(OptimizerSpec spec, int workers) {
        return init(builder(spec, workers).list()
            .layer(new DenseLayer.Builder().nIn(64).nOut(32).activation(Activation.RELU).build())
            .layer(new DenseLayer.Builder().nIn(32).nOut(16).activation(Activation.TANH).build())
            .layer(output(16))
            .build());
    }

    /** in → {h1: 32 relu, h2: 16 tanh} → merge → out. */
    static Network graph(OptimizerSpec spec, int workers) {
        ComputationGraphConfiguration conf = builder(spec, workers).graphBuilder()
            .addInputs("in")
            .addLayer("h1", new DenseLayer.Builder().nIn(64).nOut(32).activation(Activation.RELU).build(), "in")
            .addLayer("h2", new DenseLayer.Builder().nIn(64).nOut(16).activation(Activation.TANH).build(), "in")
            .addVertex("merge", new MergeVertex(), "h1", "h2")
            .addLayer("out", output(48), "merge")
            .setOutputs("out")
            .build();
        ComputationGraph graph = new ComputationGraph(Optimizers.removeDuplicateRegularization(conf));
        graph.init();
        return Network.of(graph);
    }

    /** 64 → 32 → BatchNorm (log-std or variance running statistics) → 16 tanh → 10. */
    static Network batchNorm(OptimizerSpec spec, int workers, boolean logStd) {
        return init(builder(spec, workers).list()
            .layer(new DenseLayer.Builder().nIn(64).nOut(32).activation(Activation.IDENTITY).build())
            .layer(new BatchNormalization.Builder().nOut(32).useLogStd(logStd).activation(Activation.RELU).build())
            .layer(new DenseLayer.Builder().nIn(32).nOut(16).activation(Activation.TANH).build())
            .layer(output(16))
            .build());
    }

    /** The mlp with its first layer a {@code FrozenLayerWithBackprop}. */
    static Network frozenWithBackprop(OptimizerSpec spec, int workers) {
        return init(builder(spec, workers).list()
            .layer(new FrozenLayerWithBackprop(new DenseLayer.Builder().nIn(64).nOut(32).activation(Activation.RELU).build()))
            .layer(new DenseLayer.Builder().nIn(32).nOut(16).activation(Activation.TANH).build())
            .layer(output(16))
            .build());
    }

    /**
     * Transfer learning as a job does it: a 64-32-16-10 mlp trained a few steps with Adam and saved, then
     * {@code model.init_from} with {@code freeze_layers: 1} and {@code replace_output} through {@link ModelBuilder},
     * the job's optimizer applied by {@link Optimizers#configure}.
     */
    static Network fineTuned(OptimizerSpec spec, int workers, File dir) throws IOException {
        ModelContext pre = new ModelContext(64, 10, "classification", null, b -> b.updater(new Adam(0.01)), 3);
        Network saved = Network.of(ModelBuilder.build(ModelSpec.mlp(List.of(32, 16), Activation.RELU), pre));
        for (int t = 0; t < 5; t++) {
            var batch = Mirror.batch(t);
            saved.computeGradient(batch.getFeatures(), batch.getLabels());
            saved.toBatchMean(batch.numExamples());
            saved.applyUpdate(t, 0);
        }
        File zip = new File(dir, "pretrained.zip");
        ModelSerializer.writeModel(saved.dl4j(), zip, true);
        Consumer<NeuralNetConfiguration.Builder> training = b -> Optimizers.configure(b, spec, workers, TOTAL_STEPS);
        ModelContext job = new ModelContext(64, 10, "classification", null, training, 11);
        return Network.of(ModelBuilder.build(ModelSpec.mlp(null, null).withInitFrom(zip.getPath(), 1, true), job));
    }

    static Network init(MultiLayerConfiguration conf) {
        MultiLayerNetwork net = new MultiLayerNetwork(Optimizers.removeDuplicateRegularization(conf));
        net.init();
        return Network.of(net);
    }
}
