package io.lockstep.worker.model;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;

/**
 * A user's own model for {@code model.type: factory}, {@code model.factory: io.lockstep.worker.model.ExampleFactory}:
 * a small residual network (in → dense 32 → dense 32, added to its input → output). It takes the job's seed
 * and optimizer settings from {@link ModelContext#configure} and the job's output layer from
 * {@link ModelContext#outputLayer}.
 */
public class ExampleFactory implements ModelFactory {
    @Override
    public Model create(ModelContext ctx) {
        NeuralNetConfiguration.Builder builder = ctx.configure(new NeuralNetConfiguration.Builder()
            .weightInit(WeightInit.RELU));
        ComputationGraph graph = new ComputationGraph(builder.graphBuilder()
            .addInputs("in")
            .addLayer("a", new DenseLayer.Builder().nIn(ctx.inputs()).nOut(32).activation(Activation.RELU).build(), "in")
            .addLayer("b", new DenseLayer.Builder().nIn(32).nOut(32).activation(Activation.RELU).build(), "a")
            .addVertex("residual", new ElementWiseVertex(ElementWiseVertex.Op.Add), "a", "b")
            .addLayer("out", ctx.outputLayer(32), "residual")
            .setOutputs("out")
            .build());
        return graph; // init() is left to ModelBuilder
    }
}
