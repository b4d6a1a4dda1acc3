package io.lockstep.driver.doctor;

import java.util.List;

/** The Spark master the job resolves, and task slots for its workers on a local one. */
final class SparkCheck implements Check {
    @Override
    public List<Finding> run(Setting job) {
        if (job.sparkError() != null) {
            return List.of(Finding.configFail("spark", job.sparkError()));
        }
        int workers = job.cfg().workers();
        return List.of(Finding.ok("spark", "spark.master " + job.master() + (job.master().startsWith("local[")
            ? ": task slots for " + workers + " worker" + (workers == 1 ? "" : "s") : "")));
    }
}
