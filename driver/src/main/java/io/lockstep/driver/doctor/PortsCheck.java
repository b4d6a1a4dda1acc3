package io.lockstep.driver.doctor;

import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.spark.DriverAddress;

import io.lockstep.ps.media.FreePorts;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * The driver's endpoint address (ps.host, else the address Spark gives the driver) can be bound, and executors elsewhere
 * could reach it; or why the exchange needs no ports.
 */
final class PortsCheck implements Check {
    @Override
    public List<Finding> run(Setting job) {
        JobConfig cfg = job.cfg();
        List<Finding> findings = new ArrayList<>();
        String exchange = job.topology().exchangeKind();
        if (exchange.equals("memory")) {
            findings.add(Finding.ok("ports", "every worker in this JVM: gradients are exchanged in memory, no ports"));
            return findings;
        }
        if (exchange.equals("ipc")) {
            if (!job.where().workersInDriver()) {
                findings.add(Finding.configFail("ports", "config key 'ps.transport' is ipc, which needs every worker"
                    + " in the driver's JVM, but spark.master is " + job.master() + ": use ps.transport: udp"));
            } else {
                findings.add(Finding.ok("ports", "ps.transport ipc: shared memory, no ports"));
            }
            return findings;
        }
        String host = job.topology().host();
        String named = cfg.ps().host() != null ? "ps.host " + host : "the driver's address " + host
            + (job.where().workersInDriver() || job.master().startsWith("local") ? "" : " (spark.driver.host; ps.host unset)");
        // the ports the driver's JVM takes: the shards' and the all-gather's, and the workers' where they run here
        int needed = (job.topology().shardsOnExecutors() ? 2 : 2 * cfg.ps().shards() + 2)
            + (job.where().workersInDriver() ? cfg.ps().shards() + 1 : 0);
        try {
            InetAddress.getByName(host);
            int[] ports = FreePorts.udp(host, needed, cfg.ps().ports());
            findings.add(Finding.ok("ports", named + ": " + needed + " UDP ports free in ps.ports " + cfg.ps().ports()
                + " (e.g. " + ports[0] + ")" + (job.topology().shardsOnExecutors()
                ? "; each executor hosting shards takes 2 per shard and 1 more on its own address" : "")
                + (job.where().workersInDriver() ? "" : "; each executor JVM takes " + (cfg.ps().shards() + 1)
                + " to receive on")));
        } catch (IllegalStateException e) {
            findings.add(Finding.configFail("ports", "config key 'ps.ports': " + e.getMessage()));
            return findings;
        } catch (IOException | UncheckedIOException | SecurityException e) {
            Throwable cause = e instanceof UncheckedIOException u ? u.getCause() : e;
            String why = cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage();
            findings.add(cfg.ps().host() != null
                ? Finding.configFail("ports", "config key 'ps.host' is '" + host + "', which this machine cannot"
                + " bind (" + why + "): set it to an address of this driver, or remove it to use the address Spark"
                + " gives the driver")
                : Finding.fail("ports", named + " cannot be bound here (" + why + "): set ps.host to an address of this"
                + " driver the executors can reach"));
            return findings;
        }
        if (cfg.ps().host() != null && !job.where().sameHost() && DriverAddress.isLoopback(host)
            && !DriverAddress.masterOnLoopback(job.master())) {
            findings.add(Finding.configFail("ports", "config key 'ps.host' is " + host + " but spark.master is "
                + job.master() + ": executors on other hosts cannot reach a loopback address; remove ps.host (the"
                + " driver's endpoints then use the address Spark gives the driver, spark.driver.host) or set it to an"
                + " address of this driver they can reach"));
        }
        return findings;
    }
}
