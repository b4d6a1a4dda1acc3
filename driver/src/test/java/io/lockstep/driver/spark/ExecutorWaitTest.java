package io.lockstep.driver.spark;

import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.TestData;
import io.lockstep.driver.job.TrainingJob;
import org.apache.spark.SparkConf;
import org.apache.spark.deploy.master.Master;
import org.apache.spark.rpc.RpcEnv;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A cluster that never gives the application an executor (a real standalone master with no workers, as when the
 * cluster is full or executors cannot connect back): the job fails within ps.timeout_seconds naming the master and
 * what to change, where Spark alone would wait for resources forever.
 */
@Tag("slow")
class ExecutorWaitTest {
    @TempDir
    Path dir;

    @Test
    void aClusterThatGivesNoExecutorFailsTheJobWithinTheBudget() throws Exception {
        SparkConf masterConf = new SparkConf(false).set("spark.master.rest.enabled", "false");
        RpcEnv master = Master.startRpcEnvAndEndpoint("127.0.0.1", 0, 0, masterConf)._1();
        try {
            String url = "spark://127.0.0.1:" + master.address().port();
            Path[] split = TestData.digitsSplit(dir, 200);
            JobConfig cfg = TestData.digitsJob(split[0], split[1], dir.resolve("out")).with("spark.master=" + url,
                "spark.conf.spark.driver.host=127.0.0.1", "spark.conf.spark.driver.bindAddress=127.0.0.1",
                "spark.conf.spark.ui.enabled=false", "ps.timeout_seconds=3");
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> TrainingJob.run(cfg));
            assertTrue(e.getMessage().startsWith("no executor of " + url + " registered with this driver (127.0.0.1:"),
                e.getMessage());
            assertTrue(e.getMessage().contains("within 3 s (ps.timeout_seconds): the cluster has no free cores or memory"
                + " for this application"), e.getMessage());
        } finally {
            master.shutdown();
            master.awaitTermination();
        }
    }
}
