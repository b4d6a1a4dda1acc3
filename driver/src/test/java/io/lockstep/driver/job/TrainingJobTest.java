package io.lockstep.driver.job;

import io.lockstep.driver.config.ShardPlacement;
import io.lockstep.driver.config.Transport;
import io.lockstep.worker.optim.ClippingSpec;
import io.lockstep.worker.optim.OptimizerSpec;
import io.lockstep.driver.cli.LockstepCli;
import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.TestData;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.dataset.api.preprocessor.NormalizerStandardize;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Whole jobs through the real path: local Spark, barrier stage, embedded Aeron, DL4J. */
@Tag("slow")
class TrainingJobTest {
    @TempDir
    Path dir;

    static float[] params(Path modelZip) throws IOException {
        return ModelSerializer.restoreMultiLayerNetwork(modelZip.toFile()).params().toFloatVector();
    }

    static double maxDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }

    @Test
    void twoWorkersAtBatchBEqualOneWorkerAtBatch2B() throws IOException {
        Path[] split = TestData.digitsSplit(dir, 1280);
        JobConfig two = TestData.digitsJob(split[0], split[1], dir.resolve("two"))
            .with("shuffle", false)
            .with("workers", 2)
            .with("batch_size", 16)
            .with("ps.shards", 3);
        JobConfig one = TestData.digitsJob(split[0], split[1], dir.resolve("one"))
            .with("shuffle", false)
            .with("workers", 1)
            .with("batch_size", 32)
            .with("ps.shards", 1);

        Map<String, Object> s2 = TrainingJob.run(two);
        Map<String, Object> s1 = TrainingJob.run(one);
        assertEquals(40L, ((Number) s2.get("steps")).longValue(), "1280 rows / global batch 32");
        assertEquals(s1.get("steps"), s2.get("steps"));
        float[] p2 = params(dir.resolve("two/model.zip"));
        float[] p1 = params(dir.resolve("one/model.zip"));
        double diff = maxDiff(p1, p2);
        assertTrue(diff <= 1e-5, "max abs difference " + diff);
        assertTrue(((Number) s2.get("samples_trained")).longValue() == 1280);
    }

    @Test
    void digitsEndToEndBeatsChanceByFarAndWritesEveryOutput() throws IOException {
        Path[] split = TestData.digitsSplit(dir, 1400);
        JobConfig job = TestData.digitsJob(split[0], split[1], dir.resolve("run"))
            .with("epochs", 8);
        Map<String, Object> summary = TrainingJob.run(job);

        JsonNode written = new ObjectMapper().readTree(dir.resolve("run/summary.json").toFile());
        double accuracy = written.at("/test/accuracy").asDouble();
        assertTrue(accuracy > 0.85, "test accuracy " + accuracy + " (chance is 0.1)");
        for (String key : List.of("workers", "epochs", "global_batch_size", "train_samples", "samples_per_second",
            "wall_seconds")) {
            assertTrue(written.has(key), "summary.json lacks " + key);
        }
        for (String key : List.of("accuracy", "precision", "recall", "f1")) {
            double v = written.at("/test/" + key).asDouble();
            assertTrue(v > 0.8 && v <= 1.0, key + " = " + v);
        }
        assertEquals(2, written.get("workers").asInt());
        assertEquals(32, written.get("global_batch_size").asInt());
        assertEquals(1400, written.get("train_samples").asInt());
        assertEquals(summary.get("samples_per_second"), written.get("samples_per_second").asDouble());

        List<String> metrics = Files.readAllLines(dir.resolve("run/metrics.jsonl"));
        long epochLines = metrics.stream().filter(l -> l.contains("\"type\":\"epoch\"")).count();
        assertEquals(8, epochLines);
        assertTrue(metrics.stream().filter(l -> l.contains("\"type\":\"step\"")).count() >= 8 * 4);
        JsonNode last = new ObjectMapper().readTree(metrics.stream().filter(l -> l.contains("\"type\":\"epoch\""))
            .reduce((a, b) -> b).orElseThrow());
        ObjectNode attempt = (ObjectNode) new ObjectMapper().readTree(metrics.get(metrics.size() - 1));
        assertEquals("attempt", attempt.remove("type").asText(), "the attempt's end closes its lines");
        assertEquals(written.at("/attempts/0"), attempt, "the same entry as in summary.json");
        assertEquals(0, written.at("/attempts/0/drops/shards/unauthenticated").asLong(-1),
            written.at("/attempts/0").toString());
        JsonNode first = new ObjectMapper().readTree(metrics.stream().filter(l -> l.contains("\"epoch\",\"epoch\":1"))
            .findFirst().orElseThrow());
        assertTrue(last.get("loss").asDouble() < first.get("loss").asDouble(), "loss must fall over training");

        MultiLayerNetwork restored = ModelSerializer.restoreMultiLayerNetwork(dir.resolve("run/model.zip").toFile());
        assertEquals(((Number) summary.get("parameters")).longValue(), restored.numParams());
        NormalizerStandardize norm = ModelSerializer.restoreNormalizerFromFile(dir.resolve("run/model.zip").toFile());
        assertNotNull(norm, "model.zip carries the feature standardization");
        PublishedModel.assertScoresItsSummary(dir.resolve("run"), "classification",
            PublishedModel.csv(split[1], false, null, "classification", 10));
    }

    @Test
    void aDl4jJsonModelFileTrainsAndABadOneIsNamed() throws IOException {
        Path[] split = TestData.digitsSplit(dir, 640);
        Path json = dir.resolve("model.json");
        Files.writeString(json, io.lockstep.worker.model.Models.mlp(64, List.of(24, 12), "tanh", 10, "cross_entropy",
            io.lockstep.worker.model.Models.optimizer("rmsprop", 0.005), 7).toJson());
        JobConfig job = TestData.digitsJob(split[0], split[1], dir.resolve("json"))
            .with("model.type", "json")
            .with("model.path", json.toString());
        Map<String, Object> summary = TrainingJob.run(job);
        assertEquals(64L * 24 + 24 + 24 * 12 + 12 + 12 * 10 + 10, ((Number) summary.get("parameters")).longValue());

        Files.writeString(json, "{\"not\": \"a network\"}");
        Exception e = assertThrows(ConfigLoader.ConfigException.class, () -> TrainingJob.run(job));
        assertTrue(e.getMessage().contains("model.path") && e.getMessage().contains("model.json"), e.getMessage());
    }

    @Test
    void unevenShardsCompleteWithoutHanging() throws IOException {
        Path[] split = TestData.digitsSplit(dir, 1001);   // 334/334/333 rows over 3 workers
        JobConfig job = TestData.digitsJob(split[0], split[1], dir.resolve("uneven"));
        job = job.with("workers", 3);
        job = job.with("batch_size", 32);                             // 11 steps/epoch, the last one ragged
        job = job.with("epochs", 2);
        job = job.with("ps.shards", 2);
        job = job.with("loss", "mse");                               // and the other built-in loss and optimizer
        job = job.with("optimizer.type", OptimizerSpec.Type.SGD);
        job = job.with("optimizer.lr", 0.1);
        Map<String, Object> summary = TrainingJob.run(job);
        assertEquals(22L, ((Number) summary.get("steps")).longValue());
        String firstStep = Files.readAllLines(dir.resolve("uneven/metrics.jsonl")).get(0);
        double firstLoss = new ObjectMapper().readTree(firstStep).get("loss").asDouble();
        assertTrue(((Number) summary.get("final_loss")).doubleValue() < firstLoss, "MSE must fall: " + firstStep);
        assertEquals(2002L, ((Number) summary.get("samples_trained")).longValue());
    }

    @Test
    void ipcTransportTrainsToTheSameParametersAsUdp() throws IOException {
        Path[] split = TestData.digitsSplit(dir, 640);
        Map<String, JsonNode> written = new java.util.LinkedHashMap<>();
        for (String transport : List.of("udp", "ipc")) {
            JobConfig job = TestData.digitsJob(split[0], split[1], dir.resolve(transport))
                .with("ps.transport", Transport.parse(transport));
            job = job.with("ps.local_reduction", false); // else every worker of local mode takes the in-memory exchange
            TrainingJob.run(job);
            written.put(transport, new ObjectMapper().readTree(dir.resolve(transport + "/summary.json").toFile()));
        }
        for (String transport : written.keySet()) {
            JsonNode ps = written.get(transport).get("ps");
            assertEquals(transport, ps.get("transport").asText(), "the exchange this run took: " + ps);
            assertEquals("driver", ps.get("placement").asText(), ps.toString());
        }
        assertEquals(written.get("udp").get("steps"), written.get("ipc").get("steps"));
        assertEquals(0.0, maxDiff(params(dir.resolve("udp/model.zip")), params(dir.resolve("ipc/model.zip"))),
            "the transport must not change the arithmetic (two workers: sums exact in any arrival order)");
    }

    @Test
    void shardsOnTheExecutorsTrainToTheSameParametersAsOnTheDriver() throws IOException {
        Path[] split = TestData.digitsSplit(dir, 960);
        JobConfig[] jobs = new JobConfig[2];
        for (int i = 0; i < 2; i++) {
            JobConfig job = TestData.digitsJob(split[0], split[1], dir.resolve(i == 0 ? "driver" : "executors"));
            job = job.with("workers", 2);                    // two addends: the sums are exact in any arrival order
            job = job.with("ps.shards", 3);                  // rank 0 runs shards 0 and 1, rank 1 shard 2
            job = job.with("ps.local_reduction", false);      // every gradient over the wire (else the job exchanges in memory)
            job = job.with("ps.shard_placement", i == 0 ? ShardPlacement.DRIVER : ShardPlacement.EXECUTORS);
            job = job.with("clipping.mode", ClippingSpec.Mode.NORM);         // the global norm needs the shards' sums over the norm link
            job = job.with("clipping.threshold", 0.5);
            jobs[i] = job;
        }
        Map<String, Object> onDriver = TrainingJob.run(jobs[0]);
        Map<String, Object> onExecutors = TrainingJob.run(jobs[1]);
        @SuppressWarnings("unchecked")
        Map<String, Object> ps = (Map<String, Object>) onExecutors.get("ps");
        assertEquals("executors", ps.get("placement"));
        assertEquals("server", ps.get("optimizer"));
        assertEquals(3, ((Number) ps.get("shards")).intValue());
        assertEquals(0L, ((Number) ps.get("dropped_frames")).longValue());
        assertEquals("driver", ((Map<?, ?>) onDriver.get("ps")).get("placement"));
        assertEquals(onDriver.get("steps"), onExecutors.get("steps"));
        assertEquals(0.0, maxDiff(params(dir.resolve("driver/model.zip")), params(dir.resolve("executors/model.zip"))),
            "where the shards run must not change the arithmetic");
        // shard 0 reported every step to the driver over the wire: every step line is in metrics.jsonl
        long steps = ((Number) onExecutors.get("steps")).longValue();
        long stepLines = Files.readAllLines(dir.resolve("executors/metrics.jsonl")).stream()
            .filter(l -> l.contains("\"step\"") && !l.contains("\"epoch_end\"")).count();
        long expected = Files.readAllLines(dir.resolve("driver/metrics.jsonl")).stream()
            .filter(l -> l.contains("\"step\"") && !l.contains("\"epoch_end\"")).count();
        assertTrue(steps > 0 && stepLines == expected, stepLines + " step lines, on the driver " + expected);
    }

    @Test
    void tooFewLocalSlotsFailAtOnceInsteadOfWaitingForSlots() {
        JobConfig job = TestData.digitsJob(Path.of("a.csv"), Path.of("b.csv"), dir.resolve("slots"))
            .with("spark.master", "local[1]");
        var e = assertThrows(ConfigLoader.ConfigException.class, () -> TrainingJob.run(job));
        assertTrue(e.getMessage().contains("'spark.master' is local[1] (1 task slot) but workers is 2"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("slots")), "nothing is written for a job that cannot run");
    }

    @Test
    void badInputFailsNamingTheRowAndKeepsTheEarlierModel() throws IOException {
        Path[] split = TestData.digitsSplit(dir, 640);
        Path out = dir.resolve("keep");
        TrainingJob.run(TestData.digitsJob(split[0], split[1], out));
        byte[] good = Files.readAllBytes(out.resolve("model.zip"));

        List<String> lines = new java.util.ArrayList<>(Files.readAllLines(split[0]));
        lines.set(99, lines.get(99) + ",5");
        Path bad = dir.resolve("bad.csv");
        Files.write(bad, lines);
        Exception e = assertThrows(Exception.class, () -> TrainingJob.run(TestData.digitsJob(bad, split[1], out)));
        assertTrue(LockstepCli.oneLine(e).contains("bad.csv: line 100 has 66 columns, expected 65"),
            LockstepCli.oneLine(e));
        assertArrayEquals(good, Files.readAllBytes(out.resolve("model.zip")), "the good model must survive");
        try (var files = Files.list(out)) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().endsWith(".tmp")), "no temp files left");
        }
    }
}
