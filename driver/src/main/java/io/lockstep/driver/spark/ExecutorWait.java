package io.lockstep.driver.spark;

import io.lockstep.driver.config.JobConfig;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * On a cluster, the wait for the first executor, bounded by {@code ps.timeout_seconds}: Spark itself waits for
 * resources forever ("Initial job has not accepted any resources"), whether the cluster has no free cores or memory
 * for the application or its executors cannot connect back to the driver.
 */
public final class ExecutorWait {
    private ExecutorWait() {
    }

    /** Returns once an executor has registered with {@code sc}; throws naming the master and what to change. */
    public static void awaitFirst(JavaSparkContext sc, JobConfig cfg) {
        String master = sc.master();
        if (master.startsWith("local") || sc.getConf().getBoolean("spark.dynamicAllocation.enabled", false)) {
            return; // embedded; or executors come with tasks (and Spark refuses a barrier stage with a reason)
        }
        long deadline = System.nanoTime() + cfg.ps().timeoutSeconds() * 1_000_000_000L;
        // the driver's own block manager is listed too
        while (sc.sc().statusTracker().getExecutorInfos().length < 2) {
            if (System.nanoTime() - deadline > 0) {
                String driver = sc.getConf().get("spark.driver.host", "?") + ":" + sc.getConf().get("spark.driver.port", "?");
                throw new IllegalStateException("no executor of " + master + " registered with this driver (" + driver
                    + ") within " + cfg.ps().timeoutSeconds() + " s (ps.timeout_seconds): the cluster has no free cores or"
                    + " memory for this application (spark.cores.max, spark.executor.cores, spark.executor.memory), or"
                    + " its executors cannot connect back to " + driver + " (set SPARK_LOCAL_IP or spark.driver.host to"
                    + " this machine's address on the cluster network); the master's web UI lists the application and"
                    + " its executors' exit reasons");
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the executors of " + master, e);
            }
        }
    }
}
