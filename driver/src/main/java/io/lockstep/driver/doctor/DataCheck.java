package io.lockstep.driver.doctor;

import io.lockstep.driver.config.Download;
import io.lockstep.driver.data.DataPaths;
import org.apache.hadoop.conf.Configuration;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The data paths exist and read through Hadoop's file systems; on a cluster, local paths must exist on every
 * executor host.
 */
final class DataCheck implements Check {
    @Override
    public List<Finding> run(Setting job) {
        Configuration hadoop = DataPaths.hadoop(job.cfg());
        List<Finding> findings = new ArrayList<>();
        boolean download = job.cfg().data().download() == Download.MNIST;
        List<String> local = new ArrayList<>();
        for (Map.Entry<String, String> e : DataPaths.of(job.cfg().data()).entrySet()) {
            String key = e.getKey();
            String path = e.getValue();
            if (DataPaths.isLocal(path)) {
                local.add(key);
            }
            String problem = DataPaths.problem(hadoop, path);
            if (problem == null) {
                findings.add(Finding.ok("data", key + " " + path + ": readable"));
            } else if (download && problem.equals("file not found")) {
                findings.add(Finding.ok("data", key + " " + path + ": missing; data.download: mnist fetches it"));
            } else {
                findings.add(Finding.fail("data", key + ": " + path + ": " + problem));
            }
        }
        if (!job.where().sameHost() && !local.isEmpty()) {
            findings.add(Finding.warn("data", "spark.master is " + job.master() + ": local paths ("
                + String.join(", ", local) + ", file: or no scheme) are read by the executors and must exist at the"
                + " same place on every executor host" + (download ? "; data.download fetches to the driver only" : "")
                + " (or use hdfs:, s3a:, ...)"));
        }
        return findings;
    }
}
