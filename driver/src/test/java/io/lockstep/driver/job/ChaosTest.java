package io.lockstep.driver.job;

import io.lockstep.worker.train.Every;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.TestData;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Faults on a real cluster with separate executor JVMs ({@code local-cluster[2,1,1024]}): an
 * executor killed with SIGKILL in the middle of training is detected, named, and recovered from the
 * newest checkpoint on a replacement executor, and the job ends with the parameters of an
 * undisturbed run.
 */
@Tag("slow")
class ChaosTest {
    @TempDir
    Path dir;

    JobConfig job(String master, String out) {
        Path[] split = {dir.resolve("train.csv"), dir.resolve("test.csv")};
        JobConfig c = TestData.digitsJob(split[0], split[1], dir.resolve(out));
        c = c.with("epochs", 40); // long enough to be killed in the middle (about 45 steps per epoch)
        c = c.with("model.hidden", List.of(64));
        c = c.with("checkpoint.dir", dir.resolve(out + "-ckpt").toString())
            .with("checkpoint.every", new Every(50, Every.Unit.STEPS))
            .with("ps.timeout_seconds", 20)
            .with("spark.master", master);
        if (master.startsWith("local-cluster")) {
            c = c.with("spark.conf.spark.executor.extraClassPath", System.getProperty("java.class.path"))
                .with("spark.conf.spark.executor.extraJavaOptions", System.getProperty("lockstep.test.executor.flags"))
                .with("spark.conf.spark.executorEnv.OMP_NUM_THREADS", "1")
                .with("spark.conf.spark.scheduler.minRegisteredResourcesRatio", "1.0");
        }
        return c;
    }

    /** This JVM's executor processes (the in-process worker launched them: they are its descendants). */
    static List<ProcessHandle> executors() {
        return ProcessHandle.current().descendants().filter(ChaosTest::isExecutor).toList();
    }

    private static boolean isExecutor(ProcessHandle p) {
        try { // /proc/PID/cmdline: ProcessHandle.Info may leave out long command lines
            return Files.readString(Path.of("/proc", String.valueOf(p.pid()), "cmdline"))
                .contains("CoarseGrainedExecutorBackend");
        } catch (java.io.IOException e) {
            return false;
        }
    }

    static boolean anyCheckpoint(Path dir) throws Exception {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.anyMatch(f -> f.getFileName().toString().startsWith("ckpt-"));
        }
    }

    /** Starts {@code job} in the background and returns once its first checkpoint is written. */
    CompletableFuture<Map<String, Object>> startAndWaitForACheckpoint(JobConfig job) throws Exception {
        TestData.digitsSplit(dir, 1440);
        Files.createDirectories(Path.of(System.getenv("SPARK_HOME"), "jars"));
        CompletableFuture<Map<String, Object>> running = CompletableFuture.supplyAsync(() -> {
            try {
                return TrainingJob.run(job);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!anyCheckpoint(Path.of(job.checkpoint().dir())) && !running.isDone() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertFalse(running.isDone(), "the job must still be running when the fault is injected");
        assertEquals(2, executors().size(), "two executor JVMs");
        return running;
    }

    static void signal(String signal, ProcessHandle process) throws Exception {
        Process kill = new ProcessBuilder("kill", "-" + signal, String.valueOf(process.pid())).inheritIO().start();
        assertTrue(kill.waitFor(10, TimeUnit.SECONDS) && kill.exitValue() == 0, "kill -" + signal);
        org.slf4j.LoggerFactory.getLogger("lockstep").info("chaos: SIG{} to executor process {}", signal, process.pid());
    }

    float[] params(String run) throws Exception {
        return ModelSerializer.restoreMultiLayerNetwork(dir.resolve(run + "/model.zip").toFile()).params().toFloatVector();
    }

    @Test
    @SuppressWarnings("unchecked")
    void anExecutorPausedBelowTheDeadlineIsWaitedFor() throws Exception {
        JobConfig paused = job("local-cluster[2,1,1024]", "paused");
        paused = paused.with("ps.timeout_seconds", 45); // the one stall budget: a 30 s pause is tolerated
        CompletableFuture<Map<String, Object>> running = startAndWaitForACheckpoint(paused);
        ProcessHandle victim = executors().get(0);
        signal("STOP", victim);
        Thread.sleep(30_000);
        signal("CONT", victim);
        Map<String, Object> summary = running.get(300, TimeUnit.SECONDS);
        assertEquals(1, ((List<Map<String, Object>>) summary.get("attempts")).size(), "no recovery was needed");
        TrainingJob.run(job("local[2]", "undisturbed"));
        assertArrayEquals(params("undisturbed"), params("paused"));
    }

    @Test
    @SuppressWarnings("unchecked")
    void anExecutorPausedPastTheDeadlineIsNamedAndRecovered() throws Exception {
        JobConfig stalled = job("local-cluster[2,1,1024]", "stalled")
            .with("ps.timeout_seconds", 5);
        CompletableFuture<Map<String, Object>> running = startAndWaitForACheckpoint(stalled);
        ProcessHandle victim = executors().get(0);
        signal("STOP", victim);
        Thread.sleep(15_000); // past the deadline: the other rank gives up on it
        signal("CONT", victim);
        Map<String, Object> summary = running.get(300, TimeUnit.SECONDS);
        List<Map<String, Object>> attempts = (List<Map<String, Object>>) summary.get("attempts");
        assertTrue(attempts.size() >= 2, attempts.toString());
        String cause = (String) attempts.get(0).get("cause");
        // named by the shard that waited for the paused rank's gradient, or (shards on the executors) for the
        // paused executor's shard to finish the step, whichever deadline fired first
        assertTrue(cause.contains("timed out") && (cause.contains("waits for rank(s)")
            || cause.contains("(next to rank ") && cause.contains("did not finish the step")), cause);
        TrainingJob.run(job("local[2]", "undisturbed"));
        assertArrayEquals(params("undisturbed"), params("stalled"));
    }

    @Test
    @SuppressWarnings("unchecked")
    void anExecutorKilledMidTrainingIsNamedAndRecoveredToTheUndisturbedResult() throws Exception {
        JobConfig chaos = job("local-cluster[2,1,1024]", "chaos");
        CompletableFuture<Map<String, Object>> running = startAndWaitForACheckpoint(chaos);
        ProcessHandle victim = executors().get(0);
        victim.destroyForcibly(); // SIGKILL
        org.slf4j.LoggerFactory.getLogger("lockstep").info("chaos: killed executor process {} (SIGKILL)", victim.pid());
        assertTrue(victim.onExit().get(30, TimeUnit.SECONDS) != null);

        Map<String, Object> summary = running.get(300, TimeUnit.SECONDS);
        List<Map<String, Object>> attempts = (List<Map<String, Object>>) summary.get("attempts");
        assertEquals(2, attempts.size(), attempts.toString());
        String cause = (String) attempts.get(0).get("cause");
        assertTrue(cause.matches("executor \\d+ on \\S+ was lost.*"), cause);
        assertTrue(((Number) attempts.get(1).get("from_step")).intValue() >= 50, "resumed from a checkpoint");

        Map<String, Object> undisturbed = TrainingJob.run(job("local[2]", "undisturbed"));
        assertEquals(undisturbed.get("steps"), summary.get("steps"));
        assertArrayEquals(
            ModelSerializer.restoreMultiLayerNetwork(dir.resolve("undisturbed/model.zip").toFile()).params().toFloatVector(),
            ModelSerializer.restoreMultiLayerNetwork(dir.resolve("chaos/model.zip").toFile()).params().toFloatVector(),
            "recovered on a replacement executor, the job ends exactly where the undisturbed run ends");
    }
}
