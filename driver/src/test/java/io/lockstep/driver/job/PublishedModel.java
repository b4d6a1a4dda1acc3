package io.lockstep.driver.job;

import io.lockstep.worker.metrics.EvalMetrics;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.preprocessor.DataNormalization;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A published model.zip as its user reloads it: network and normalizer from the file, raw test rows read here (not
 * through the job's loader), DL4J's own forward pass and per-example scores, and the task's metrics; they must be
 * summary.json's test metrics. Counts and everything computed from them (accuracy, precision, recall, F1, AUC,
 * confusion) are compared exactly; sums of floating values (loss, MSE, MAE, RMSE, R²) to 1e-6 relative: the job
 * evaluates per Spark partition, in batches of other shapes whose float32 forward pass may round a per-example loss
 * an ulp (6e-8) apart, and merges partial sums in its own order.
 */
final class PublishedModel {
    static final double SUM_TOLERANCE = 1e-6;

    private PublishedModel() {
    }

    /** Rows of a test file in raw units: {@code features} [n, f] and {@code labels} [n, outputs] for the task. */
    record Rows(INDArray features, INDArray labels) {
    }

    static void assertScoresItsSummary(Path outDir, String task, Rows rows) throws IOException {
        JsonNode summary = new ObjectMapper().readTree(outDir.resolve("summary.json").toFile());
        EvalMetrics scored = score(outDir.resolve("model.zip"), task, rows);
        JsonNode expected = summary.get("test");
        assertNotNull(expected, "summary.json has test metrics");
        assertMatches("test", expected, new ObjectMapper().valueToTree(scored.toMap()));
    }

    static EvalMetrics score(Path modelZip, String task, Rows rows) throws IOException {
        DataSet data = new DataSet(rows.features().dup(), rows.labels());
        DataNormalization normalizer = ModelSerializer.restoreNormalizerFromFile(modelZip.toFile());
        if (normalizer != null) {
            normalizer.transform(data);
        }
        INDArray output;
        INDArray losses;
        if (isGraph(modelZip)) {
            ComputationGraph graph = ModelSerializer.restoreComputationGraph(modelZip.toFile(), false);
            output = graph.outputSingle(false, data.getFeatures());
            losses = graph.scoreExamples(data, false);
        } else {
            MultiLayerNetwork net = ModelSerializer.restoreMultiLayerNetwork(modelZip.toFile(), false);
            output = net.output(data.getFeatures(), false);
            losses = net.scoreExamples(data, false);
        }
        EvalMetrics metrics = EvalMetrics.forTask(task, (int) rows.labels().columns());
        metrics.add(rows.labels(), output, losses);
        return metrics;
    }

    private static boolean isGraph(Path modelZip) throws IOException {
        try (java.util.zip.ZipFile zip = new java.util.zip.ZipFile(modelZip.toFile());
             InputStream in = zip.getInputStream(zip.getEntry("configuration.json"))) {
            return new ObjectMapper().readTree(in).has("vertices");
        }
    }

    private static final java.util.Set<String> SUMS = java.util.Set.of("loss", "mse", "mae", "rmse", "r2");

    private static void assertMatches(String path, JsonNode expected, JsonNode actual) {
        if (expected.isObject()) {
            List<String> names = new ArrayList<>();
            expected.fieldNames().forEachRemaining(names::add);
            List<String> actualNames = new ArrayList<>();
            actual.fieldNames().forEachRemaining(actualNames::add);
            assertEquals(names, actualNames, path);
            for (String n : names) {
                assertMatches(path + "." + n, expected.get(n), actual.get(n));
            }
        } else if (expected.isArray()) {
            assertEquals(expected.size(), actual.size(), path);
            for (int i = 0; i < expected.size(); i++) {
                assertMatches(path + "[" + i + "]", expected.get(i), actual.get(i));
            }
        } else if (expected.isNumber() && SUMS.contains(path.substring(path.lastIndexOf('.') + 1))) {
            double e = expected.asDouble();
            assertEquals(e, actual.asDouble(), Math.abs(e) * SUM_TOLERANCE, path);
        } else if (expected.isNumber()) {
            assertEquals(expected.asDouble(), actual.asDouble(), 0.0, path);
        } else {
            assertEquals(expected, actual, path);
        }
    }

    /**
     * CSV rows: features are every column but the label column ({@code labelName} in a header, else the last);
     * labels one-hot over {@code classes} for classification, else the value itself (binary, regression).
     */
    static Rows csv(Path file, boolean header, String labelName, String task, int classes) throws IOException {
        List<String> lines = new ArrayList<>(lines(file));
        int label = -1;
        if (header) {
            List<String> names = List.of(lines.remove(0).split(","));
            label = names.indexOf(labelName);
            assertTrue(label >= 0, labelName + " in " + names);
        }
        List<float[]> x = new ArrayList<>();
        List<Float> y = new ArrayList<>();
        for (String line : lines) {
            String[] cells = line.split(",");
            int l = label >= 0 ? label : cells.length - 1;
            float[] row = new float[cells.length - 1];
            for (int i = 0, j = 0; i < cells.length; i++) {
                if (i != l) {
                    row[j++] = Float.parseFloat(cells[i]);
                }
            }
            x.add(row);
            y.add(Float.parseFloat(cells[l]));
        }
        return rows(x, y, task, classes);
    }

    /** IDX images (raw bytes 0..255, as the normalizer in model.zip expects them) and their class labels. */
    static Rows idx(Path images, Path labels, int classes) throws IOException {
        byte[] img = Files.readAllBytes(images);
        byte[] lab = Files.readAllBytes(labels);
        int n = java.nio.ByteBuffer.wrap(img, 4, 4).getInt();
        int size = java.nio.ByteBuffer.wrap(img, 8, 4).getInt() * java.nio.ByteBuffer.wrap(img, 12, 4).getInt();
        List<float[]> x = new ArrayList<>();
        List<Float> y = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            float[] row = new float[size];
            for (int p = 0; p < size; p++) {
                row[p] = img[16 + i * size + p] & 0xFF;
            }
            x.add(row);
            y.add((float) (lab[8 + i] & 0xFF));
        }
        return rows(x, y, "classification", classes);
    }

    private static Rows rows(List<float[]> x, List<Float> y, String task, int classes) {
        int n = x.size();
        int outputs = task.equals("classification") ? classes : 1;
        INDArray features = Nd4j.create(DataType.FLOAT, n, x.get(0).length);
        INDArray labels = Nd4j.zeros(DataType.FLOAT, n, outputs);
        Iterator<Float> label = y.iterator();
        for (int i = 0; i < n; i++) {
            features.putRow(i, Nd4j.createFromArray(x.get(i)));
            float v = label.next();
            if (task.equals("classification")) {
                labels.putScalar(i, (int) v, 1f);
            } else {
                labels.putScalar(i, 0, v);
            }
        }
        return new Rows(features, labels);
    }

    private static List<String> lines(Path file) throws IOException {
        try (InputStream raw = Files.newInputStream(file);
             InputStream in = file.toString().endsWith(".gz") ? new GZIPInputStream(raw) : raw) {
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII).lines().filter(l -> !l.isBlank()).toList();
        }
    }
}
