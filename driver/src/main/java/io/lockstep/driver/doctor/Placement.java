package io.lockstep.driver.doctor;

import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.spark.Topology;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Where the JVMs of a run live: all in the driver (local), executors on this host (local-cluster), or elsewhere. */
record Placement(boolean workersInDriver, boolean sameHost, int executors, int workersPerExecutor) {
    private static final Pattern LOCAL_CLUSTER =
        Pattern.compile("local-cluster\\[\\s*(\\d+)\\s*,\\s*(\\d+)\\s*,\\s*\\d+\\s*]");

    static Placement of(String master, JobConfig cfg) {
        Matcher m = LOCAL_CLUSTER.matcher(master.trim());
        if (m.matches()) {
            int executors = Math.max(1, Integer.parseInt(m.group(1)));
            int cores = Math.max(1, Integer.parseInt(m.group(2)));
            return new Placement(false, true, executors,
                Math.min(cores, (cfg.workers() + executors - 1) / executors));
        }
        if (Topology.workersInDriver(master)) {
            return new Placement(true, true, 0, cfg.workers());
        }
        int cores = parse(cfg.spark().conf().get("spark.executor.cores"), 1);
        int perTask = parse(cfg.spark().conf().get("spark.task.cpus"), 1);
        return new Placement(false, false, -1, Math.max(1, Math.min(cfg.workers(), cores / Math.max(1, perTask))));
    }

    private static int parse(String v, int dflt) {
        try {
            return v == null ? dflt : Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            return dflt;
        }
    }
}
