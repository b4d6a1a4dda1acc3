package io.lockstep.worker.model;

import org.nd4j.linalg.activations.Activation;

import org.deeplearning4j.nn.api.Model;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The count from the configuration is the count of the network ModelBuilder builds. */
class ParameterCountTest {
    @TempDir
    Path dir;

    @Test
    void countsWhatTheBuiltNetworkHolds() throws Exception {
        ModelContext digits = new ModelContext(64, 10, "classification", null, null, 42);
        ModelContext mnist = new ModelContext(784, 10, "classification", null, null, 42);
        for (ModelSpec spec : List.of(ModelSpec.mlp(List.of(32, 16), Activation.TANH), ModelSpec.lenet(null))) {
            for (ModelContext ctx : List.of(digits, mnist)) {
                assertEquals(Network.of(ModelBuilder.build(spec, ctx)).parameterCount(), ParameterCount.of(spec, ctx),
                    spec.type() + ", " + ctx.inputs() + " features");
            }
        }
        assertEquals(235_146, ParameterCount.of(ModelSpec.mlp(ModelSpec.DEFAULT_HIDDEN, Activation.RELU), mnist),
            "the MNIST MLP (784-256-128-10)");
        assertEquals(431_080, ParameterCount.of(ModelSpec.lenet(null), mnist), "the MNIST CNN (LeNet)");

        Model built = ModelBuilder.build(ModelSpec.mlp(List.of(20), Activation.RELU), digits);
        Path json = Files.writeString(dir.resolve("net.json"), Network.of(built).toJson());
        assertEquals(64 * 20 + 20 + 20 * 10 + 10, ParameterCount.of(ModelSpec.json(json.toString()), digits));
        assertEquals(-1, ParameterCount.of(ModelSpec.factory("x.Y"), digits), "only building a factory's model tells");
    }
}
