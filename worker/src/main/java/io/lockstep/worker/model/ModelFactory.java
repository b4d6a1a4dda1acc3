package io.lockstep.worker.model;

import org.deeplearning4j.nn.api.Model;

/**
 * A user's own network, for {@code model.type: factory} with {@code model.factory: com.example.MyNet}.
 * The class needs a public no-argument constructor and must be on the driver's classpath (the driver
 * builds the model once; workers receive its JSON and parameters).
 *
 * <p>Return a {@code MultiLayerNetwork} or a {@code ComputationGraph} with exactly one input and one
 * output; {@code init()} is called afterwards if it was not. To honour the job's settings, start from
 * {@link ModelContext#configure} (seed, updater, regularisation) and end with
 * {@link ModelContext#outputLayer} (the job's number of outputs, loss and output activation).
 */
public interface ModelFactory {
    Model create(ModelContext ctx);
}
