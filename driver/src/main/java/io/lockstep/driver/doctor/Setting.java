package io.lockstep.driver.doctor;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.spark.DriverAddress;
import io.lockstep.driver.spark.SparkConfs;
import io.lockstep.driver.spark.Topology;
import org.apache.spark.SparkConf;

/**
 * What every check looks at: the job's config, its Spark master as the job resolves it, where its JVMs live
 * and the topology the job chooses there.
 *
 * @param withJob    the config names a job (data paths, output.dir): without one the doctor checks this machine
 * @param sparkError why the job could not build its Spark configuration (then the master is one local slot per
 *                   worker), or null
 */
record Setting(JobConfig cfg, boolean withJob, String master, String sparkError, Placement where, Topology topology) {

    /** The setting of {@code cfg} on the master the job would run on. */
    static Setting of(JobConfig cfg, boolean withJob) {
        SparkConf conf;
        try {
            conf = SparkConfs.of(cfg, false); // the cluster a job from here would be submitted to is checked too
        } catch (ConfigLoader.ConfigException e) {
            return on(cfg, withJob, "local[" + cfg.workers() + "]", e.getMessage(),
                cfg.ps().host() != null ? cfg.ps().host() : "127.0.0.1");
        }
        return on(cfg, withJob, conf.get("spark.master"), null, DriverAddress.predicted(cfg, conf));
    }

    /** The setting of {@code cfg} on {@code master}, with the driver's endpoints on {@code host}. */
    static Setting on(JobConfig cfg, boolean withJob, String master, String sparkError, String host) {
        Placement where = Placement.of(master, cfg);
        return new Setting(cfg, withJob, master, sparkError, where, new Topology(cfg, where.workersInDriver(), host));
    }

    /** The same master and JVMs for another config (the doctor tries the settings it suggests). */
    Setting with(JobConfig other) {
        return new Setting(other, withJob, master, sparkError, where, new Topology(other, where.workersInDriver(),
            other.ps().host() != null ? other.ps().host() : topology.host()));
    }
}
