package io.lockstep.worker.model;

import org.nd4j.linalg.activations.Activation;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The model.* keys: defaults, validation messages naming the key, serialisation. */
class ModelSpecTest {
    static String error(Runnable r) {
        return assertThrows(IllegalArgumentException.class, r::run).getMessage();
    }

    static ModelSpec spec(String type, double dropout, String path, String factory, String initFrom, int freeze,
                          boolean replace, List<Integer> shape) {
        return new ModelSpec(ModelType.parse(type), null, null, dropout, path, factory, initFrom, freeze, replace, shape);
    }

    @Test
    void defaults() {
        ModelSpec s = new ModelSpec(null, null, null, 0, null, null, null, 0, false, null);
        assertEquals(ModelType.MLP, s.type());
        assertEquals(List.of(256, 128), s.hidden());
        assertEquals(Activation.RELU, s.activation());
        assertEquals(1.0, s.retainProbability());
        assertNull(s.inputShapeArray());
        assertEquals(ModelType.LENET, spec("LeNet", 0, null, null, null, 0, false, null).type());
        assertEquals(0.7, ModelSpec.mlp(null, null).withDropout(0.3).retainProbability(), 1e-12);
    }

    @Test
    void isImmutableAndSerializable() throws Exception {
        List<Integer> hidden = new ArrayList<>(List.of(8, 4));
        ModelSpec s = new ModelSpec(ModelType.MLP, hidden, Activation.TANH, 0.1, null, null, "m.zip", 1, true, List.of(8, 8, 1));
        hidden.add(2);
        assertEquals(List.of(8, 4), s.hidden());
        assertThrows(UnsupportedOperationException.class, () -> s.hidden().add(1));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(s);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            assertEquals(s, in.readObject());
        }
        assertArrayEquals(new int[]{8, 8, 1}, s.inputShapeArray());
    }

    @Test
    void badValuesNameTheirKey() {
        assertEquals("model.dropout must be in [0, 1), got 1.5 (the probability of dropping a unit; 0 = off)",
            error(() -> ModelSpec.mlp(null, null).withDropout(1.5)));
        assertTrue(error(() -> ModelSpec.mlp(null, null).withDropout(1.0)).startsWith("model.dropout must be in [0, 1), got 1.0"));
        assertTrue(error(() -> ModelSpec.mlp(null, null).withDropout(-0.1)).startsWith("model.dropout must be in [0, 1)"));
        assertTrue(error(() -> ModelSpec.mlp(null, null).withDropout(Double.NaN)).startsWith("model.dropout must be in [0, 1)"));
        assertEquals("model.type must be one of mlp, lenet, json, factory, got 'resnet'",
            error(() -> spec("resnet", 0, null, null, null, 0, false, null)));
        assertEquals("model.hidden: layer widths must be >= 1, got [64, 0]",
            error(() -> ModelSpec.mlp(List.of(64, 0), Activation.RELU)));
        assertEquals("model.activation: unknown 'rectifier' (relu, tanh, sigmoid, ...)",
            error(() -> Models.activation("rectifier")));
        assertEquals("model.path is required when model.type is json",
            error(() -> spec("json", 0, null, null, null, 0, false, null)));
        assertEquals("model.factory is required when model.type is factory (a class implementing "
            + "io.lockstep.worker.model.ModelFactory)", error(() -> spec("factory", 0, null, " ", null, 0, false, null)));
        assertEquals("model.dropout is not used with model.type json: the JSON configures its own dropout",
            error(() -> spec("json", 0.5, "m.json", null, null, 0, false, null)));
        assertEquals("model.freeze_layers must be >= 0, got -1",
            error(() -> spec("mlp", 0, null, null, "m.zip", -1, false, null)));
        assertEquals("model.freeze_layers needs model.init_from (a trained model to keep layers of)",
            error(() -> spec("mlp", 0, null, null, null, 2, false, null)));
        assertEquals("model.replace_output needs model.init_from (a trained model whose output layer to replace)",
            error(() -> spec("mlp", 0, null, null, null, 0, true, null)));
        assertEquals("model.input_shape must be [height, width, channels], all >= 1, got [28, 28]",
            error(() -> ModelSpec.lenet(List.of(28, 28))));
        assertEquals("model.input_shape must be [height, width, channels], all >= 1, got [28, 0, 1]",
            error(() -> ModelSpec.lenet(Arrays.asList(28, 0, 1))));
        // dropout with a JSON model is fine when init_from replaces the JSON anyway
        assertEquals(0.5, spec("json", 0.5, "m.json", null, "m.zip", 0, false, null).dropout());
    }

    @Test
    void shapesThatDoNotFitTheDataNameModelInputShape() {
        ModelContext ctx = new ModelContext(60, 10, "classification", null, null, 1);
        assertEquals("model.input_shape is required for model.type lenet: 60 features are not a square "
            + "single-channel image; give [height, width, channels]",
            error(() -> ModelBuilder.build(ModelSpec.lenet(null), ctx)));
        assertEquals("model.input_shape [8, 8, 1] holds 64 values but the data has 60 features",
            error(() -> ModelBuilder.build(ModelSpec.lenet(List.of(8, 8, 1)), ctx)));
        assertNotNull(ModelBuilder.build(ModelSpec.lenet(List.of(6, 10, 1)), ctx));
    }
}
