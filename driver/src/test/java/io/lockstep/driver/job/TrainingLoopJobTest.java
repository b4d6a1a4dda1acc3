package io.lockstep.driver.job;

import io.lockstep.driver.config.StepPlacement;
import io.lockstep.worker.optim.ScheduleSpec;
import io.lockstep.worker.optim.OptimizerSpec;
import io.lockstep.worker.train.Every;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.TestData;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.evaluation.EvaluationAveraging;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.preprocessor.DataNormalization;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The training loop's practices through whole jobs: validation, schedules, early stopping, the non-finite guard. */
@Tag("slow")
class TrainingLoopJobTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    /** Digits rows split into train / validation / test files. */
    Path[] split(int train, int validation) throws IOException {
        List<String> lines = TestData.digitsLines();
        Path[] files = {dir.resolve("train.csv"), dir.resolve("validation.csv"), dir.resolve("test.csv")};
        Files.write(files[0], lines.subList(0, train));
        Files.write(files[1], lines.subList(train, train + validation));
        Files.write(files[2], lines.subList(train + validation, lines.size()));
        return files;
    }

    JobConfig job(Path[] files, String out) {
        JobConfig c = TestData.digitsJob(files[0], files[2], dir.resolve(out))
            .with("data.validation", files[1].toString());
        return c;
    }

    static List<JsonNode> lines(Path metrics, String type) throws IOException {
        return Files.readAllLines(metrics).stream().map(l -> {
            try {
                return JSON.readTree(l);
            } catch (IOException e) {
                throw new AssertionError("not strict JSON: " + l, e);
            }
        }).filter(n -> n.get("type").asText().equals(type)).toList();
    }

    /** DL4J's own evaluation of a published model.zip over a CSV of digits rows (label last). */
    static Evaluation dl4jEvaluation(Path modelZip, Path csv) throws Exception {
        MultiLayerNetwork net = ModelSerializer.restoreMultiLayerNetwork(modelZip.toFile());
        DataNormalization norm = ModelSerializer.restoreNormalizerFromFile(modelZip.toFile());
        List<String> rows = Files.readAllLines(csv);
        float[][] x = new float[rows.size()][];
        float[][] y = new float[rows.size()][10];
        for (int i = 0; i < rows.size(); i++) {
            String[] cells = rows.get(i).split(",");
            x[i] = new float[cells.length - 1];
            for (int j = 0; j < cells.length - 1; j++) {
                x[i][j] = Float.parseFloat(cells[j]);
            }
            y[i][(int) Float.parseFloat(cells[cells.length - 1])] = 1f;
        }
        DataSet ds = new DataSet(Nd4j.create(x), Nd4j.create(y));
        norm.transform(ds);
        Evaluation eval = new Evaluation(10);
        INDArray out = net.output(ds.getFeatures(), false);
        eval.eval(ds.getLabels(), out);
        return eval;
    }

    @Test
    void validationMergedOverTwoAndThreeWorkersEqualsOneDl4jEvaluationOfTheSameParameters() throws Exception {
        Path[] files = split(900, 433);
        for (int workers : new int[]{2, 3}) {
            JobConfig c = job(files, "w" + workers)
                .with("workers", workers)
                .with("epochs", 2);
            Map<String, Object> summary = TrainingJob.run(c);
            List<JsonNode> validations = lines(dir.resolve("w" + workers + "/metrics.jsonl"), "validation");
            assertEquals(2, validations.size(), "one validation per epoch");
            JsonNode last = validations.get(1);
            assertEquals(433, last.get("count").asLong());
            assertEquals(((Number) summary.get("steps")).longValue(), last.get("step").asLong());

            Evaluation expected = dl4jEvaluation(dir.resolve("w" + workers + "/model.zip"), files[1]);
            assertEquals(expected.accuracy(), last.get("accuracy").asDouble(), 1e-9, workers + " workers");
            assertEquals(expected.precision(EvaluationAveraging.Macro), last.get("precision").asDouble(), 1e-9);
            assertEquals(expected.recall(EvaluationAveraging.Macro), last.get("recall").asDouble(), 1e-9);
            int[][] confusion = confusion(expected);
            for (int a = 0; a < 10; a++) {
                for (int p = 0; p < 10; p++) {
                    assertEquals(confusion[a][p], last.get("confusion").get(a).get(p).asInt(), "confusion " + a + "," + p);
                }
            }
            assertTrue(last.get("loss").asDouble() > 0);
        }
    }

    static int[][] confusion(Evaluation e) {
        int[][] m = new int[10][10];
        for (int a = 0; a < 10; a++) {
            for (int p = 0; p < 10; p++) {
                m[a][p] = e.getConfusionMatrix().getCount(a, p);
            }
        }
        return m;
    }

    @Test
    void aValidationFractionIsNeverTrainedOn() throws Exception {
        Path[] files = split(1000, 0);
        JobConfig c = TestData.digitsJob(files[0], files[2], dir.resolve("frac"))
            .with("data.validation_fraction", 0.25)
            .with("epochs", 2);
        Map<String, Object> summary = TrainingJob.run(c);
        long train = ((Number) summary.get("train_samples")).longValue();
        long validation = ((Number) summary.get("validation_samples")).longValue();
        assertEquals(1000, train + validation);
        assertTrue(validation > 200 && validation < 300, "about a quarter: " + validation);
        assertEquals(2 * train, ((Number) summary.get("samples_trained")).longValue(),
            "every epoch trains on the training rows only");
        JsonNode last = lines(dir.resolve("frac/metrics.jsonl"), "validation").get(1);
        assertEquals(validation, last.get("count").asLong());
    }

    @Test
    void theLoggedRateOfEveryStepFollowsWarmupCosineAndLinearScaling() throws Exception {
        Path[] files = split(640, 0);
        JobConfig c = TestData.digitsJob(files[0], files[2], dir.resolve("lr"))
            .with("optimizer.type", OptimizerSpec.Type.SGD)
            .with("optimizer.lr", 0.05)
            .with("optimizer.lr_scaling", OptimizerSpec.LrScaling.LINEAR)
            .with("optimizer.schedule.kind", ScheduleSpec.Kind.COSINE)
            .with("optimizer.schedule.warmup_steps", 6)
            .with("optimizer.schedule.min_lr", 0.001)
            .with("epochs", 2)
            .with("log_every", 1);
        TrainingJob.run(c);
        List<JsonNode> steps = lines(dir.resolve("lr/metrics.jsonl"), "step");
        int total = 40; // 640 rows / (2 workers x 16) x 2 epochs
        assertEquals(total, steps.size());
        double base = 0.05 * 2;
        for (JsonNode s : steps) {
            long t = s.get("step").asLong() - 1; // lines count steps from 1, the schedule from 0
            double expected = t < 6 ? base * (t + 1) / 6
                : 0.001 + (base - 0.001) * (1 + Math.cos(Math.PI * Math.min(1.0, (t - 6) / (double) (total - 6)))) / 2;
            assertEquals(expected, s.get("lr").asDouble(), expected * 1e-5, "step " + (t + 1));
        }
    }

    @Test
    void earlyStoppingStopsWhenValidationLossStopsFallingAndPublishesTheBestEpoch() throws Exception {
        Path[] files = split(120, 400); // a tiny training set and a big network: it overfits quickly
        JobConfig c = job(files, "early");
        c = c.with("model.hidden", List.of(256, 256))
            .with("optimizer.lr", 0.01)
            .with("batch_size", 8)
            .with("epochs", 80)
            .with("early_stopping.metric", "loss")
            .with("early_stopping.patience", 3)
            .with("checkpoint.dir", dir.resolve("early-ckpt").toString());
        Map<String, Object> summary = TrainingJob.run(c);

        List<JsonNode> validations = lines(dir.resolve("early/metrics.jsonl"), "validation");
        int bestIndex = 0;
        for (int i = 1; i < validations.size(); i++) {
            if (validations.get(i).get("loss").asDouble() < validations.get(bestIndex).get("loss").asDouble()) {
                bestIndex = i;
            }
        }
        assertNotNull(summary.get("stopped_early"), "the run must stop early: " + summary);
        assertTrue(validations.size() < 80, "stopped before the last epoch");
        assertEquals(bestIndex + 1 + 3, validations.size(), "stops exactly patience validations after the best");
        @SuppressWarnings("unchecked")
        Map<String, Object> best = (Map<String, Object>) summary.get("best");
        assertEquals(bestIndex + 1, ((Number) best.get("epoch")).intValue());
        assertEquals(validations.size(), ((Number) summary.get("epochs_completed")).intValue());

        // the published model is the best epoch's: its validation loss is the best one logged
        Evaluation published = dl4jEvaluation(dir.resolve("early/model.zip"), files[1]);
        assertEquals(validations.get(bestIndex).get("accuracy").asDouble(), published.accuracy(), 1e-9);
    }

    @Test
    void resumingFromANamedCheckpointFileEndsWhereTheWholeRunEnded() throws Exception {
        Path[] files = split(900, 200);
        JobConfig whole = job(files, "whole")
            .with("epochs", 3);
        whole = whole.with("model.dropout", 0.2); // dropout masks must be redrawn identically after the resume
        whole = whole.with("checkpoint.dir", dir.resolve("ckpt").toString());
        whole = whole.with("checkpoint.every", new Every(20, Every.Unit.STEPS)); // 29 steps per epoch: checkpoints fall mid-epoch
        whole = whole.with("checkpoint.keep", 10);
        TrainingJob.run(whole);
        Path mid;
        try (var list = Files.list(dir.resolve("ckpt"))) {
            mid = list.filter(f -> f.getFileName().toString().equals("ckpt-000000000040.lsck")).findFirst()
                .orElseThrow();
        }
        JobConfig resumed = job(files, "resumed")
            .with("epochs", 3)
            .with("model.dropout", 0.2)
            .with("resume", mid.toString());
        Map<String, Object> summary = TrainingJob.run(resumed);
        assertEquals(40L, ((Number) summary.get("resumed_from_step")).longValue());
        assertEquals(87L, ((Number) summary.get("steps")).longValue());
        float[] a = ModelSerializer.restoreMultiLayerNetwork(dir.resolve("whole/model.zip").toFile()).params()
            .toFloatVector();
        float[] b = ModelSerializer.restoreMultiLayerNetwork(dir.resolve("resumed/model.zip").toFile()).params()
            .toFloatVector();
        assertArrayEquals(a, b, "resumed mid-epoch from step 40 of 87, bit-identical to the whole run");
    }

    @Test
    void aCheckpointOfOnePlacementResumesUnderTheOtherAndBothPlacementsTrainAlike() throws Exception {
        Path[] files = split(900, 200);
        JobConfig replica = job(files, "replica")
            .with("epochs", 3)
            .with("optimizer.step_placement", StepPlacement.REPLICA)
            .with("checkpoint.dir", dir.resolve("ckpt").toString())
            .with("checkpoint.every", new Every(20, Every.Unit.STEPS))
            .with("checkpoint.keep", 10);
        Map<String, Object> replicaSummary = TrainingJob.run(replica);
        JobConfig server = job(files, "server");
        server = server.with("epochs", 3); // placement unset: the server, which can mirror this model
        Map<String, Object> serverSummary = TrainingJob.run(server);
        assertEquals("replica", ((Map<?, ?>) replicaSummary.get("ps")).get("optimizer"));
        assertEquals("server", ((Map<?, ?>) serverSummary.get("ps")).get("optimizer"));
        assertEquals("memory", ((Map<?, ?>) serverSummary.get("ps")).get("transport"), "embedded Spark: every worker in this JVM");
        // the replica run's checkpoint at step 40 (DL4J's updater state) resumes on the server
        JobConfig resumed = job(files, "resumed")
            .with("epochs", 3)
            .with("optimizer.step_placement", StepPlacement.SERVER)
            .with("resume", dir.resolve("ckpt").resolve("ckpt-000000000040.lsck").toString());
        TrainingJob.run(resumed);
        float[] a = params(dir.resolve("replica/model.zip"));
        float[] b = params(dir.resolve("server/model.zip"));
        float[] c = params(dir.resolve("resumed/model.zip"));
        assertTrue(maxDiff(a, b) <= 1e-5, "server vs replica placement: " + maxDiff(a, b));
        assertTrue(maxDiff(a, c) <= 1e-5, "resumed on the server from a replica checkpoint: " + maxDiff(a, c));
    }

    private static float[] params(Path modelZip) throws IOException {
        return ModelSerializer.restoreMultiLayerNetwork(modelZip.toFile()).params().toFloatVector();
    }

    private static double maxDiff(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs(a[i] - b[i]));
        }
        return d;
    }

    @Test
    void watchingAMetricNeedsAValidationSetAndAMetricOfTheTask() throws Exception {
        Path[] files = split(640, 100);
        JobConfig noValidation = TestData.digitsJob(files[0], files[2], dir.resolve("nv"))
            .with("early_stopping.metric", "loss");
        var e = assertThrows(io.lockstep.driver.config.ConfigLoader.ConfigException.class,
            () -> TrainingJob.run(noValidation));
        assertTrue(e.getMessage().contains("'early_stopping.metric' watches a validation metric, but there is no"
            + " validation set"), e.getMessage());
        JobConfig wrongMetric = job(files, "wm")
            .with("checkpoint.best", "r2");
        e = assertThrows(io.lockstep.driver.config.ConfigLoader.ConfigException.class,
            () -> TrainingJob.run(wrongMetric));
        assertTrue(e.getMessage().contains("'checkpoint.best': 'r2' is not a classification metric"), e.getMessage());
    }

    @Test
    void aDivergingJobStopsInItsFirstEpochNamingStepAndRank() throws Exception {
        Path[] files = split(1000, 0);
        JobConfig c = TestData.digitsJob(files[0], files[2], dir.resolve("nan"))
            .with("optimizer.type", OptimizerSpec.Type.SGD)
            .with("optimizer.lr", 1e6)
            .with("epochs", 3);
        Exception e = assertThrows(Exception.class, () -> TrainingJob.run(c));
        String message = io.lockstep.driver.cli.LockstepCli.oneLine(e);
        java.util.regex.Matcher m = java.util.regex.Pattern
            .compile("non-finite loss/gradient at step (\\d+) \\(epoch 1\\): non-finite local loss or gradient on ranks? [01]")
            .matcher(message);
        assertTrue(m.find(), message);
        assertTrue(Integer.parseInt(m.group(1)) <= 32, "within the first epoch of 32 steps: " + message);
        assertFalse(Files.exists(dir.resolve("nan/model.zip")), "no model from a diverged run");
    }
}
