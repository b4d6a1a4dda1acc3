package io.lockstep.driver.job;

import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.TestData;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Each worker takes its GPU from Spark's resource scheduling, on a real cluster with a separate executor JVM
 * ({@code local-cluster[1,2,2048]}: one worker offering two GPUs, found by {@code deploy/gpu/fake-gpus.sh},
 * one executor running both tasks): the two ranks get distinct GPUs and record them in summary.json; with
 * no GPUs scheduled every rank is on the CPU. The CPU build computes on the CPU either way (no GPU here).
 */
@Tag("slow")
class GpuBindingTest {
    @TempDir
    Path dir;

    private JobConfig job(String out) throws Exception {
        Path train = dir.resolve("train.csv"), test = dir.resolve("test.csv");
        if (!Files.exists(train)) {
            TestData.digitsSplit(dir, 400);
        }
        return TestData.digitsJob(train, test, dir.resolve(out)).with("epochs", 1);
    }

    @Test
    void twoTasksOfOneExecutorGetDistinctGpusAndRecordThem() throws Exception {
        Files.createDirectories(Path.of(System.getenv("SPARK_HOME"), "jars"));
        String script = Path.of("..", "deploy", "gpu", "fake-gpus.sh").toAbsolutePath().normalize().toString();
        JobConfig onGpus = job("gpus")
            .with("spark.master", "local-cluster[1,2,2048]")
            .with("spark.conf.spark.executor.extraClassPath", System.getProperty("java.class.path"))
            .with("spark.conf.spark.executor.extraJavaOptions", System.getProperty("lockstep.test.executor.flags"))
            .with("spark.conf.spark.executorEnv.OMP_NUM_THREADS", "1")
            .with("spark.conf.spark.scheduler.minRegisteredResourcesRatio", "1.0")
            .with("spark.conf.spark.worker.resource.gpu.amount", "2")
            .with("spark.conf.spark.worker.resource.gpu.discoveryScript", script)
            .with("spark.conf.spark.executor.resource.gpu.amount", "2")
            .with("spark.conf.spark.task.resource.gpu.amount", "1");
        @SuppressWarnings("unchecked")
        List<String> devices = (List<String>) TrainingJob.run(onGpus).get("devices");
        assertEquals(2, devices.size(), devices.toString());
        assertEquals(2, new HashSet<>(devices).size(), "two tasks never share a GPU: " + devices);
        assertEquals(new HashSet<>(List.of("cpu (gpu 0 assigned, backend cpu)", "cpu (gpu 1 assigned, backend cpu)")),
            new HashSet<>(devices));
        assertTrue(Files.readString(dir.resolve("gpus/summary.json")).contains("\"devices\""));

        Map<String, Object> local = TrainingJob.run(job("cpu").with("spark.master", "local[2]"));
        assertEquals(List.of("cpu", "cpu"), local.get("devices"), "no GPU scheduled: every rank on the CPU");
    }
}
