package io.lockstep.driver.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.TestData;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The whole loop on a real Spark cluster with separate executor JVMs ({@code local-cluster[2,1,1024]}:
 * a master and two workers in this JVM, each launching an executor process): partitions, the
 * all-gather of validation metrics, checkpoints and the parameter-server shards (one on each executor,
 * their norm reduction between the two) cross process boundaries, and the result is bit-identical to the
 * same job in local mode.
 */
@Tag("slow")
class ClusterTest {
    @TempDir
    Path dir;

    JobConfig job(String master, String out) {
        Path[] split = {dir.resolve("train.csv"), dir.resolve("test.csv")};
        JobConfig c = TestData.digitsJob(split[0], split[1], dir.resolve(out))
            .with("data.validation_fraction", 0.2)
            .with("epochs", 3)
            .with("model.hidden", List.of(48))
            .with("checkpoint.dir", dir.resolve(out + "-ckpt").toString())
            .with("checkpoint.best", "accuracy")
            .with("spark.master", master);
        return c;
    }

    @Test
    void twoExecutorJvmsTrainBitIdenticallyToLocalMode() throws Exception {
        TestData.digitsSplit(dir, 1400);
        // executors are separate processes: give them the project's classes and the JVM flags it needs
        Files.createDirectories(Path.of(System.getenv("SPARK_HOME"), "jars"));
        JobConfig cluster = job("local-cluster[2,1,1024]", "cluster")
            .with("spark.conf.spark.executor.extraClassPath", System.getProperty("java.class.path"))
            .with("spark.conf.spark.executor.extraJavaOptions", System.getProperty("lockstep.test.executor.flags"))
            .with("spark.conf.spark.executorEnv.OMP_NUM_THREADS", "1")
            .with("spark.conf.spark.scheduler.minRegisteredResourcesRatio", "1.0");
        Map<String, Object> onCluster = TrainingJob.run(cluster);
        Map<String, Object> local = TrainingJob.run(job("local[2]", "local"));

        @SuppressWarnings("unchecked")
        List<String> replicas = (List<String>) onCluster.get("replicas");
        String self = String.valueOf(ProcessHandle.current().pid());
        assertEquals(2, replicas.size());
        assertNotEquals(pid(replicas.get(0)), pid(replicas.get(1)), "two executor processes: " + replicas);
        assertFalse(replicas.stream().anyMatch(r -> pid(r).equals(self)), "not this JVM: " + replicas);

        float[] a = ModelSerializer.restoreMultiLayerNetwork(dir.resolve("cluster/model.zip").toFile())
            .params().toFloatVector();
        float[] b = ModelSerializer.restoreMultiLayerNetwork(dir.resolve("local/model.zip").toFile())
            .params().toFloatVector();
        assertArrayEquals(b, a, "the cluster must train exactly as local mode");
        // on a cluster the shards run on the executors (ps.shard_placement auto), in local mode there is no server
        assertEquals("executors", ((Map<?, ?>) onCluster.get("ps")).get("placement"));
        assertEquals("none", ((Map<?, ?>) local.get("ps")).get("placement"));
        assertEquals(onCluster.get("validation"), local.get("validation"), "validation merged across processes");
        try (var files = Files.list(dir.resolve("cluster-ckpt"))) {
            assertTrue(files.anyMatch(f -> f.getFileName().toString().startsWith("best-")),
                "the best checkpoint was written from an executor");
        }
        JsonNode lastValidation = lastValidation(dir.resolve("cluster/metrics.jsonl"));
        assertEquals(((Number) onCluster.get("validation_samples")).longValue(), lastValidation.get("count").asLong());
    }

    /**
     * A checkpoint.dir the executors do not share with the driver (here a relative path: each JVM resolves it in its
     * own working directory, as a local path on each host's own disk would be) fails before the first step, naming
     * the key and a rank, instead of training without recovery; the driver's probe file is gone afterwards.
     */
    @Test
    void aCheckpointDirTheExecutorsDoNotShareIsRefusedBeforeTraining() throws Exception {
        TestData.digitsSplit(dir, 1400);
        Files.createDirectories(Path.of(System.getenv("SPARK_HOME"), "jars"));
        String relative = "target/ckpt-unshared-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        JobConfig cluster = job("local-cluster[2,1,1024]", "unshared")
            .with("checkpoint.dir", relative)
            .with("recovery.max_attempts", 3)
            .with("spark.conf.spark.executor.extraClassPath", System.getProperty("java.class.path"))
            .with("spark.conf.spark.executor.extraJavaOptions", System.getProperty("lockstep.test.executor.flags"))
            .with("spark.conf.spark.executorEnv.OMP_NUM_THREADS", "1")
            .with("spark.conf.spark.scheduler.minRegisteredResourcesRatio", "1.0");
        try {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> TrainingJob.run(cluster));
            assertTrue(e.getMessage().contains("config key 'checkpoint.dir' is " + relative + ", which rank "),
                e.getMessage());
            assertTrue(e.getMessage().contains("does not share with the driver"), e.getMessage());
            assertFalse(e.getMessage().contains("attempt 3"), "a config error: not retried: " + e.getMessage());
            try (var left = Files.list(Path.of(relative))) {
                assertEquals(List.of(), left.map(f -> f.getFileName().toString()).toList(), "the probe file removed");
            }
            assertFalse(Files.exists(dir.resolve("unshared/metrics.jsonl")), "no step ran");
        } finally {
            org.apache.commons.io.FileUtils.deleteDirectory(Path.of(relative).toFile());
        }
    }

    /**
     * The optimizer on the shards, and its state (77 KB per shard) larger than half an answer term (64 KiB terms):
     * after the last step rank 0 fetches the state for its checkpoints while rank 1 has finished. The shards answer
     * both executors on one publication that waits for its slowest reader, so rank 1 must go on reading until rank 0
     * is done, or the fetch waits out ps.timeout_seconds and the job fails.
     */
    @Test
    void theLastStateFetchDoesNotWaitForARankThatHasFinished() throws Exception {
        TestData.digitsSplit(dir, 1400);
        Files.createDirectories(Path.of(System.getenv("SPARK_HOME"), "jars"));
        JobConfig cluster = job("local-cluster[2,1,1024]", "state")
            .with("epochs", 2)
            .with("model.hidden", List.of(256))
            .with("optimizer.step_placement", "server")
            .with("ps.mtu", 1472)
            .with("ps.term_length", 65536)
            .with("ps.timeout_seconds", 30)
            .with("recovery.max_attempts", 1)
            .with("spark.conf.spark.executor.extraClassPath", System.getProperty("java.class.path"))
            .with("spark.conf.spark.executor.extraJavaOptions", System.getProperty("lockstep.test.executor.flags"))
            .with("spark.conf.spark.executorEnv.OMP_NUM_THREADS", "1")
            .with("spark.conf.spark.scheduler.minRegisteredResourcesRatio", "1.0");
        Map<String, Object> summary = TrainingJob.run(cluster);
        assertEquals("server", ((Map<?, ?>) summary.get("ps")).get("optimizer"));
        assertEquals(1, ((List<?>) summary.get("attempts")).size(), "one attempt: " + summary.get("attempts"));
        try (var files = Files.list(dir.resolve("state-ckpt"))) {
            assertTrue(files.anyMatch(f -> f.getFileName().toString().startsWith("best-")), "the best slot written");
        }
    }

    @Test
    void twoWorkersPerExecutorSplitTheirReductionAndHostTheirShards() throws Exception {
        TestData.digitsSplit(dir, 1400);
        JobConfig cluster = job("local-cluster[2,2,1024]", "grouped");
        cluster = cluster.with("workers", 4); // two per executor JVM: each JVM reduces its two ranks' gradients first
        cluster = cluster.with("epochs", 2);
        cluster = cluster.with("checkpoint.dir", null)
            .with("checkpoint.best", null)
            .with("spark.conf.spark.executor.extraClassPath", System.getProperty("java.class.path"))
            .with("spark.conf.spark.executor.extraJavaOptions", System.getProperty("lockstep.test.executor.flags"))
            .with("spark.conf.spark.executorEnv.OMP_NUM_THREADS", "1")
            .with("spark.conf.spark.scheduler.minRegisteredResourcesRatio", "1.0");
        JobConfig local = job("local[4]", "grouped-local")
            .with("workers", 4)
            .with("epochs", 2)
            .with("checkpoint.dir", null)
            .with("checkpoint.best", null);
        Map<String, Object> onCluster = TrainingJob.run(cluster);
        TrainingJob.run(local);
        Map<?, ?> ps = (Map<?, ?>) onCluster.get("ps");
        assertEquals("executors", ps.get("placement"));
        assertEquals(4, ((Number) ps.get("shards")).intValue(), "a shard per worker");
        @SuppressWarnings("unchecked")
        List<String> replicas = (List<String>) onCluster.get("replicas");
        assertEquals(2, replicas.stream().map(ClusterTest::pid).distinct().count(), "two executor JVMs: " + replicas);
        float[] a = ModelSerializer.restoreMultiLayerNetwork(dir.resolve("grouped/model.zip").toFile())
            .params().toFloatVector();
        float[] b = ModelSerializer.restoreMultiLayerNetwork(dir.resolve("grouped-local/model.zip").toFile())
            .params().toFloatVector();
        // four addends summed in another grouping (each JVM's mean, then the shards'): equal up to rounding
        for (int i = 0; i < a.length; i++) {
            assertEquals(b[i], a[i], 1e-4 * (1 + Math.abs(b[i])), "parameter " + i);
        }
    }

    private static String pid(String where) {
        return where.substring(0, where.indexOf('@'));
    }

    private static JsonNode lastValidation(Path metrics) throws IOException {
        JsonNode last = null;
        for (String line : Files.readAllLines(metrics)) {
            JsonNode n = new ObjectMapper().readTree(line);
            if (n.get("type").asText().equals("validation")) {
                last = n;
            }
        }
        return last;
    }
}
