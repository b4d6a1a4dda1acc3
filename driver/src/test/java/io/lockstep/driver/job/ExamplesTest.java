package io.lockstep.driver.job;

import io.lockstep.driver.config.Normalize;
import io.lockstep.driver.config.DataFormat;
import io.lockstep.driver.config.Task;
import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.TestData;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The shipped example jobs as users run them, and the model kinds beyond the MLP through whole jobs. */
@Tag("slow")
class ExamplesTest {
    @TempDir
    Path dir;

    /** An example YAML with its repository-relative paths seen from the driver module, writing under dir. */
    JobConfig example(String name, String... overrides) {
        JobConfig plain = ConfigLoader.load(Path.of("..", "examples", name), List.of());
        List<String> settings = new ArrayList<>(List.of(
            "data.train=../" + plain.data().train(), "data.test=../" + plain.data().test(),
            "output.dir=" + dir.resolve(name), "checkpoint.dir=" + dir.resolve(name + "-ckpt")));
        settings.addAll(Arrays.asList(overrides));
        return ConfigLoader.load(Path.of("..", "examples", name), settings);
    }

    @SuppressWarnings("unchecked")
    static double test(Map<String, Object> summary, String metric) {
        return ((Number) ((Map<String, Object>) summary.get("test")).get(metric)).doubleValue();
    }

    @Test
    void diabetesRegressionExplainsMoreThanAThirdOfTheVarianceOnHeldOutRows() throws IOException {
        Map<String, Object> summary = TrainingJob.run(example("diabetes-regression.yaml"));
        assertEquals("regression", summary.get("task"));
        assertEquals(88, ((Number) summary.get("test_samples")).intValue());
        assertTrue(test(summary, "r2") > 0.3, "test R2 " + test(summary, "r2"));
        PublishedModel.assertScoresItsSummary(dir.resolve("diabetes-regression.yaml"), "regression", PublishedModel.csv(
            Path.of("..", "examples", "data", "diabetes-test.csv.gz"), true, "target", "regression", 1));
    }

    @Test
    void breastCancerBinaryReachesAnAucAbove095() throws IOException {
        Map<String, Object> summary = TrainingJob.run(example("breast-cancer-binary.yaml"));
        assertEquals("binary", summary.get("task"));
        assertTrue(test(summary, "auc") > 0.95, "test AUC " + test(summary, "auc"));
        assertTrue(test(summary, "accuracy") > 0.9, "test accuracy " + test(summary, "accuracy"));
        PublishedModel.assertScoresItsSummary(dir.resolve("breast-cancer-binary.yaml"), "binary", PublishedModel.csv(
            Path.of("..", "examples", "data", "breast-cancer-test.csv.gz"), true, "target", "binary", 1));
    }

    @Test
    void aLenetCnnTrainsOnImagesWellAboveChance() throws IOException {
        Path[] split = TestData.digitsSplit(dir, 1400);
        JobConfig c = TestData.digitsJob(split[0], split[1], dir.resolve("cnn"));
        c = c.with("model.type", "lenet"); // 64 features: 8x8 single-channel images
        c = c.with("optimizer.lr", 0.003);
        c = c.with("epochs", 2);
        Map<String, Object> summary = TrainingJob.run(c);
        assertTrue(test(summary, "accuracy") > 0.6, "CNN test accuracy " + test(summary, "accuracy") + " (chance 0.1)");
    }

    @Test
    void aComputationGraphJsonModelTrainsAndIsPublishedAsAGraph() throws Exception {
        Path[] split = TestData.digitsSplit(dir, 1400);
        // two dense branches merged before the output: something only a graph can express
        String json = new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder().seed(3)
            .updater(new org.nd4j.linalg.learning.config.Adam(0.01)).graphBuilder()
            .addInputs("in")
            .addLayer("a", new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().nIn(64).nOut(24)
                .activation(org.nd4j.linalg.activations.Activation.RELU).build(), "in")
            .addLayer("b", new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().nIn(64).nOut(24)
                .activation(org.nd4j.linalg.activations.Activation.TANH).build(), "in")
            .addVertex("ab", new org.deeplearning4j.nn.conf.graph.MergeVertex(), "a", "b")
            .addLayer("out", new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder(
                org.nd4j.linalg.lossfunctions.LossFunctions.LossFunction.MCXENT).nIn(48).nOut(10)
                .activation(org.nd4j.linalg.activations.Activation.SOFTMAX).build(), "ab")
            .setOutputs("out").build().toJson();
        Path file = dir.resolve("graph.json");
        Files.writeString(file, json);
        JobConfig c = TestData.digitsJob(split[0], split[1], dir.resolve("graph"))
            .with("model.type", "json")
            .with("model.path", file.toString())
            .with("epochs", 3);
        Map<String, Object> summary = TrainingJob.run(c);
        assertTrue(test(summary, "accuracy") > 0.85, "graph test accuracy " + test(summary, "accuracy"));
        org.deeplearning4j.nn.graph.ComputationGraph graph =
            ModelSerializer.restoreComputationGraph(dir.resolve("graph/model.zip").toFile());
        assertEquals(((Number) summary.get("parameters")).longValue(), graph.numParams());
        PublishedModel.assertScoresItsSummary(dir.resolve("graph"), "classification",
            PublishedModel.csv(split[1], false, null, "classification", 10));
    }

    @Test
    void anIdxJobsPublishedModelScoresWhatItsSummarySays() throws Exception {
        List<String> digits = TestData.digitsLines();
        Path train = idx(digits.subList(0, 1200), "train");
        Path test = idx(digits.subList(1200, digits.size()), "t10k");
        JobConfig c = TestData.digitsJob(train, test, dir.resolve("idx"))
            .with("data.format", DataFormat.IDX);
        c = c.with("data.normalize", Normalize.NONE); // IDX pixels are scaled to [0, 1]; model.zip carries that scaler
        c = c.with("epochs", 2);
        Map<String, Object> summary = TrainingJob.run(c);
        assertTrue(test(summary, "accuracy") > 0.8, "IDX test accuracy " + test(summary, "accuracy"));
        PublishedModel.assertScoresItsSummary(dir.resolve("idx"), "classification", PublishedModel.idx(test,
            dir.resolve("t10k-labels-idx1-ubyte"), 10));
    }

    /** Digits rows as IDX files (8x8 images, pixel = value x 16 capped at 255); returns the images file. */
    private Path idx(List<String> rows, String prefix) throws IOException {
        java.nio.ByteBuffer images = java.nio.ByteBuffer.allocate(16 + rows.size() * 64);
        java.nio.ByteBuffer labels = java.nio.ByteBuffer.allocate(8 + rows.size());
        images.putInt(0x803).putInt(rows.size()).putInt(8).putInt(8);
        labels.putInt(0x801).putInt(rows.size());
        for (String row : rows) {
            String[] cells = row.split(",");
            for (int i = 0; i < 64; i++) {
                images.put((byte) Math.min(255, Math.round(Float.parseFloat(cells[i]) * 16)));
            }
            labels.put((byte) Math.round(Float.parseFloat(cells[64])));
        }
        Files.write(dir.resolve(prefix + "-labels-idx1-ubyte"), labels.array());
        return Files.write(dir.resolve(prefix + "-images-idx3-ubyte"), images.array());
    }

    @Test
    void fineTuningWithAFrozenLayerChangesOnlyTheUnfrozenParameters() throws Exception {
        Path[] split = TestData.digitsSplit(dir, 1400);
        JobConfig base = TestData.digitsJob(split[0], split[1], dir.resolve("base"))
            .with("model.hidden", List.of(32, 16))
            .with("epochs", 2);
        TrainingJob.run(base);
        MultiLayerNetwork saved = ModelSerializer.restoreMultiLayerNetwork(dir.resolve("base/model.zip").toFile());

        // the same images, now "is it a digit below 5?": a new task on a fresh output layer
        Path binaryTrain = relabel(split[0], "binary-train.csv");
        Path binaryTest = relabel(split[1], "binary-test.csv");
        JobConfig tune = TestData.digitsJob(binaryTrain, binaryTest, dir.resolve("tuned"))
            .with("task", Task.BINARY)
            .with("model.init_from", dir.resolve("base/model.zip").toString())
            .with("model.freeze_layers", 1)
            .with("model.replace_output", true)
            .with("epochs", 2);
        Map<String, Object> summary = TrainingJob.run(tune);
        assertTrue(test(summary, "auc") > 0.8, "fine-tuned AUC " + test(summary, "auc"));

        MultiLayerNetwork tuned = ModelSerializer.restoreMultiLayerNetwork(dir.resolve("tuned/model.zip").toFile());
        Layer frozen = tuned.getLayer(0);
        assertArrayEquals(saved.getLayer(0).params().toFloatVector(), frozen.params().toFloatVector(),
            "the frozen first layer keeps the saved parameters bit for bit");
        assertFalse(Arrays.equals(saved.getLayer(1).params().toFloatVector(), tuned.getLayer(1).params().toFloatVector()),
            "the unfrozen second layer trained");
        assertEquals(1, tuned.getLayer(2).getParam("W").columns(), "a one-output layer replaced the 10-class one");
    }

    private Path relabel(Path csv, String name) throws IOException {
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(csv)) {
            int cut = line.lastIndexOf(',');
            int digit = (int) Float.parseFloat(line.substring(cut + 1));
            out.add(line.substring(0, cut + 1) + (digit < 5 ? 1 : 0));
        }
        Path file = dir.resolve(name);
        Files.write(file, out);
        return file;
    }
}
