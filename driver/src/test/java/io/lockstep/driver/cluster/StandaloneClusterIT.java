package io.lockstep.driver.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.TestData;
import io.lockstep.driver.job.TrainingJob;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The packaged dist jar submitted with spark-submit to a real Spark standalone cluster on this machine
 * (deploy/local-cluster.sh: a master and two workers, each its own JVM, each worker launching one executor
 * JVM): the digits job trains on two executor processes, ends bit-identical to local mode, and a job that
 * fails on an executor exits non-zero with one line. Runs after {@code package} in {@code ./mvnw -Pdist verify}
 * (the cluster-it execution in driver/pom.xml), which builds the jar first.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Tag("slow")
class StandaloneClusterIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration JOB_TIMEOUT = Duration.ofMinutes(5);

    @TempDir
    static Path dir;

    static StandaloneCluster cluster;
    static Path config;
    static StandaloneCluster.Result clusterRun;

    @BeforeAll
    static void startCluster() throws Exception {
        assumeTrue(System.getProperty(StandaloneCluster.DIST_JAR_PROPERTY) != null,
            "the standalone-cluster tests submit the dist jar: they run after package in ./mvnw -Pdist verify");
        assertTrue(Files.isRegularFile(StandaloneCluster.distJar()), "no dist jar at " + StandaloneCluster.distJar());
        Path[] split = TestData.digitsSplit(dir, 1400);
        config = dir.resolve("digits.yaml");
        Files.writeString(config, String.join("\n",
            "data:",
            "  format: csv",
            "  train: " + split[0],
            "  test: " + split[1],
            "  normalize: standardize",
            "  validation_fraction: 0.2",
            "model: {hidden: [64]}",
            "optimizer: {type: adam, lr: 0.01}",
            "batch_size: 32",
            "epochs: 5",
            "workers: 2",
            "ps: {timeout_seconds: 60}",
            ""));
        cluster = StandaloneCluster.start("StandaloneClusterIT", 2);
    }

    @AfterAll
    static void stopCluster() throws Exception {
        if (cluster == null) {
            return;
        }
        Set<Long> pids = cluster.livePids();
        Path state = cluster.stateDir();
        cluster.close();
        List<Long> left = new ArrayList<>();
        for (long pid : pids) {
            if (!StandaloneCluster.awaitExit(pid, Duration.ofSeconds(10))) {
                left.add(pid);
            }
        }
        assertEquals(List.of(), left, "close() must end every process of the cluster");
        assertFalse(Files.exists(state), "close() removes the state dir " + state);
    }

    /** One submission of the digits job, shared by the tests that look at it. */
    static synchronized StandaloneCluster.Result clusterRun() throws Exception {
        if (clusterRun == null) {
            clusterRun = cluster.run(JOB_TIMEOUT, List.of(), config,
                "output.dir=" + dir.resolve("cluster"), "checkpoint.dir=" + dir.resolve("cluster-ckpt"));
        }
        return clusterRun;
    }

    @Test
    @Order(1)
    void theDigitsJobTrainsOnTwoExecutorJvms() throws Exception {
        StandaloneCluster.Result run = clusterRun();
        assertEquals(0, run.exitCode(), () -> "spark-submit failed:\n" + StandaloneCluster.tail(run.output(), 40));
        JsonNode summary = JSON.readTree(dir.resolve("cluster/summary.json").toFile());

        List<Long> replicas = new ArrayList<>();
        summary.get("replicas").forEach(r -> replicas.add(Long.parseLong(r.asText().substring(0, r.asText().indexOf('@')))));
        assertEquals(2, replicas.size(), summary.get("replicas").toString());
        assertNotEquals(replicas.get(0), replicas.get(1), "two executor processes: " + replicas);
        assertFalse(replicas.contains(run.driverPid()), "not the driver (" + run.driverPid() + "): " + replicas);
        assertFalse(replicas.contains(ProcessHandle.current().pid()), "not this JVM: " + replicas);
        assertTrue(run.executorPids().containsAll(replicas),
            "the replicas ran in the executor JVMs the workers launched " + run.executorPids() + ": " + replicas);

        double accuracy = summary.get("test").get("accuracy").asDouble();
        assertTrue(accuracy > 0.85, "test accuracy " + accuracy);
        assertEquals(268, summary.get("validation_samples").asLong(), "validation_fraction 0.2 of 1400 rows");
        assertTrue(Files.size(dir.resolve("cluster/model.zip")) > 0);
        try (Stream<Path> files = Files.list(dir.resolve("cluster-ckpt"))) {
            assertTrue(files.anyMatch(f -> f.getFileName().toString().matches("ckpt-\\d+\\.lsck")),
                "checkpoints written from an executor");
        }
    }

    @Test
    @Order(2)
    void theClusterTrainsBitIdenticallyToLocalMode() throws Exception {
        StandaloneCluster.Result run = clusterRun();
        assertEquals(0, run.exitCode(), () -> "spark-submit failed:\n" + StandaloneCluster.tail(run.output(), 40));

        JobConfig local = ConfigLoader.load(config,
            List.of("output.dir=" + dir.resolve("local"), "checkpoint.dir=" + dir.resolve("local-ckpt")));
        local = local.with("spark.master", "local[2]");
        TrainingJob.run(local);

        float[] onCluster = ModelSerializer.restoreMultiLayerNetwork(dir.resolve("cluster/model.zip").toFile())
            .params().toFloatVector();
        float[] inProcess = ModelSerializer.restoreMultiLayerNetwork(dir.resolve("local/model.zip").toFile())
            .params().toFloatVector();
        assertArrayEquals(inProcess, onCluster, "spark-submit to the cluster must train exactly as local mode");
        JsonNode a = JSON.readTree(dir.resolve("cluster/summary.json").toFile());
        JsonNode b = JSON.readTree(dir.resolve("local/summary.json").toFile());
        assertEquals(b.get("validation"), a.get("validation"), "validation merged across processes");
        assertEquals(b.get("test"), a.get("test"));
    }

    /** Chaos: SIGKILL of an executor JVM in the middle of a spark-submit job; recovery ends bit-identical to local mode. */
    @Test
    @Order(3)
    void anExecutorKilledMidJobIsRecoveredToTheUndisturbedResult() throws Exception {
        String[] sets = {"epochs=30", "checkpoint.every=20 steps", "output.dir=" + dir.resolve("chaos"),
            "checkpoint.dir=" + dir.resolve("chaos-ckpt")};
        Submission job = cluster.submit(List.of(), config, sets);
        Path checkpoints = dir.resolve("chaos-ckpt");
        long deadline = System.nanoTime() + JOB_TIMEOUT.toNanos();
        while (job.isAlive() && System.nanoTime() < deadline && !hasCheckpoint(checkpoints)) {
            Thread.sleep(20);
        }
        assertTrue(job.isAlive(), () -> "the job must still run when its executor is killed:\n"
            + StandaloneCluster.tail(job.output(), 40));
        List<StandaloneCluster.Executor> executors = cluster.executors();
        assertEquals(2, executors.size(), executors.toString());
        cluster.kill9(executors.get(0).pid());

        StandaloneCluster.Result run = job.await(JOB_TIMEOUT);
        assertEquals(0, run.exitCode(), () -> "recovery failed:\n" + StandaloneCluster.tail(run.output(), 60));
        JsonNode summary = JSON.readTree(dir.resolve("chaos/summary.json").toFile());
        JsonNode attempts = summary.get("attempts");
        assertEquals(2, attempts.size(), attempts.toString());
        String cause = attempts.get(0).get("cause").asText();
        assertTrue(cause.matches("executor \\d+ on \\S+ was lost.*"), cause);
        assertTrue(attempts.get(1).get("from_step").asLong() >= 20, "resumed from a checkpoint: " + attempts);

        List<String> localSets = new ArrayList<>(List.of(sets));
        localSets.set(2, "output.dir=" + dir.resolve("chaos-local"));
        localSets.set(3, "checkpoint.dir=" + dir.resolve("chaos-local-ckpt"));
        JobConfig local = ConfigLoader.load(config, localSets)
            .with("spark.master", "local[2]");
        TrainingJob.run(local);
        assertArrayEquals(
            ModelSerializer.restoreMultiLayerNetwork(dir.resolve("chaos-local/model.zip").toFile()).params().toFloatVector(),
            ModelSerializer.restoreMultiLayerNetwork(dir.resolve("chaos/model.zip").toFile()).params().toFloatVector(),
            "recovered on a replacement executor, the job ends exactly where an undisturbed run ends");
    }

    private static boolean hasCheckpoint(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.anyMatch(f -> f.getFileName().toString().matches("ckpt-\\d+\\.lsck"));
        }
    }

    /** Chaos: an executor JVM paused (SIGSTOP) for 30 s, within the 45 s stall budget, is waited for. */
    @Test
    @Order(4)
    void anExecutorPausedWithinTheBudgetIsWaitedFor() throws Exception {
        JsonNode summary = pauseAnExecutor("paused", 45, 30);
        assertEquals(1, summary.get("attempts").size(), "no recovery was needed: " + summary.get("attempts"));
    }

    /** Chaos: an executor JVM paused (SIGSTOP) for 15 s, past a 5 s budget, is named and recovered. */
    @Test
    @Order(5)
    void anExecutorPausedPastTheBudgetIsNamedAndRecovered() throws Exception {
        JsonNode summary = pauseAnExecutor("stalled", 5, 15);
        JsonNode attempts = summary.get("attempts");
        assertTrue(attempts.size() >= 2, attempts.toString());
        String cause = attempts.get(0).get("cause").asText();
        // named by the shard that waited for the paused rank's gradient, or (shards on the executors) for the
        // paused executor's shard to finish the step, whichever deadline fired first
        assertTrue(cause.contains("timed out") && (cause.contains("waits for rank(s)")
            || cause.contains("(next to rank ") && cause.contains("did not finish the step")), cause);
    }

    /** Submits the digits job, pauses one executor JVM for {@code seconds} once a checkpoint exists, returns the summary. */
    private JsonNode pauseAnExecutor(String name, int budgetSeconds, int seconds) throws Exception {
        Submission job = cluster.submit(List.of(), config, "epochs=30",
            "checkpoint.every=20 steps", "ps.timeout_seconds=" + budgetSeconds, "output.dir=" + dir.resolve(name),
            "checkpoint.dir=" + dir.resolve(name + "-ckpt"));
        long deadline = System.nanoTime() + JOB_TIMEOUT.toNanos();
        while (job.isAlive() && System.nanoTime() < deadline && !hasCheckpoint(dir.resolve(name + "-ckpt"))) {
            Thread.sleep(20);
        }
        assertTrue(job.isAlive(), () -> "the job must still run when its executor is paused:\n"
            + StandaloneCluster.tail(job.output(), 40));
        long victim = cluster.awaitExecutors(2, Duration.ofSeconds(60)).get(0).pid();
        cluster.stop(victim);
        Thread.sleep(seconds * 1000L);
        cluster.cont(victim);
        StandaloneCluster.Result run = job.await(JOB_TIMEOUT);
        assertEquals(0, run.exitCode(), () -> name + " failed:\n" + StandaloneCluster.tail(run.output(), 60));
        JsonNode summary = JSON.readTree(dir.resolve(name + "/summary.json").toFile());
        JsonNode clean = JSON.readTree(dir.resolve("chaos-local/summary.json").toFile());
        assertEquals(clean.get("test"), summary.get("test"), "the same model as an undisturbed run");
        return summary;
    }

    @Test
    @Order(6)
    void aJobFailingOnAnExecutorExitsNonZeroWithOneLine() throws Exception {
        List<String> test = new ArrayList<>(Files.readAllLines(dir.resolve("test.csv")));
        String row = test.get(36);
        test.set(36, row.substring(0, row.lastIndexOf(',') + 1) + "3.5"); // line 37: a label that is no class
        Path bad = Files.write(dir.resolve("bad-test.csv"), test);

        StandaloneCluster.Result run = cluster.run(JOB_TIMEOUT, List.of(), config,
            "data.test=" + bad, "output.dir=" + dir.resolve("failed"), "checkpoint.dir=" + dir.resolve("failed-ckpt"));

        assertEquals(1, run.exitCode(), () -> StandaloneCluster.tail(run.output(), 40));
        List<String> errors = run.errorLines();
        assertEquals(1, errors.size(), () -> "one error line:\n" + StandaloneCluster.tail(run.output(), 40));
        String error = errors.get(0);
        assertTrue(error.contains(bad + ": line 37, column 65") && error.contains("'3.5'"), error);
        assertTrue(java.util.regex.Pattern.compile("Lost task \\S+ in stage .*executor \\d+\\): java.lang.IllegalArgumentException")
            .matcher(run.output()).find(), "the parse ran (and failed) on an executor");
        assertFalse(Files.exists(dir.resolve("failed/model.zip")));
        assertFalse(Files.exists(dir.resolve("failed/summary.json")));
    }

    /** The signals chaos tests will send reach this cluster's processes and nothing else. */
    @Test
    @Order(7)
    void signalsReachOnlyTheClustersOwnProcesses() throws Exception {
        long worker = cluster.workerPids().get(1);
        cluster.stop(worker);
        assertEquals('T', waitForState(worker, c -> c == 'T'), "SIGSTOP stops the worker");
        cluster.cont(worker);
        assertNotEquals('T', waitForState(worker, c -> c != 'T'), "SIGCONT resumes it");

        long self = ProcessHandle.current().pid();
        assertThrows(IllegalArgumentException.class, () -> cluster.kill9(self));
        assertThrows(IllegalArgumentException.class, () -> cluster.stop(1));

        cluster.kill9(worker);
        assertTrue(StandaloneCluster.awaitExit(worker, Duration.ofSeconds(10)), "SIGKILL ends the worker");
    }

    private static char waitForState(long pid, java.util.function.Predicate<Character> wanted)
        throws InterruptedException {
        char state = '?';
        for (int i = 0; i < 100; i++) {
            state = StandaloneCluster.processState(pid).orElse('?');
            if (wanted.test(state)) {
                break;
            }
            Thread.sleep(20);
        }
        return state;
    }
}
