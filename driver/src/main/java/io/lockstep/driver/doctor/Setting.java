package io.lockstep.driver.doctor;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.spark.SparkConfs;
import io.lockstep.driver.spark.Topology;

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
        try {
            return on(cfg, withJob, SparkConfs.of(cfg).get("spark.master"), null);
        } catch (ConfigLoader.ConfigException e) {
            return on(cfg, withJob, "local[" + cfg.workers() + "]", e.getMessage());
        }
    }

    /** The setting of {@code cfg} on {@code master}. */
    static Setting on(JobConfig cfg, boolean withJob, String master, String sparkError) {
        Placement where = Placement.of(master, cfg);
        return new Setting(cfg, withJob, master, sparkError, where, new Topology(cfg, where.workersInDriver()));
    }

    /** The same master and JVMs for another config (the doctor tries the settings it suggests). */
    Setting with(JobConfig other) {
        return new Setting(other, withJob, master, sparkError, where, new Topology(other, where.workersInDriver()));
    }
}
