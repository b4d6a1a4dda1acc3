package io.lockstep.driver.doctor;

import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.spark.DriverAddress;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
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
        try (DatagramSocket socket = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(host), 0))) {
            findings.add(Finding.ok("ports", named + ": a UDP socket binds (ephemeral port "
                + socket.getLocalPort() + "); the job takes " + (job.topology().shardsOnExecutors()
                ? "2 such ports here (the all-gather endpoint; each hosting executor takes 2 per shard and 1 more on"
                + " its own address)" : (2 * cfg.ps().shards() + 2) + " such ports")));
        } catch (IOException | SecurityException e) {
            String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
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
