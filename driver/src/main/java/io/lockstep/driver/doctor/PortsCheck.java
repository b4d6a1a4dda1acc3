package io.lockstep.driver.doctor;

import io.lockstep.driver.config.JobConfig;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

/** ps.host can be bound (and executors elsewhere can reach it), or why the exchange needs no ports. */
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
        String host = cfg.ps().host();
        try (DatagramSocket socket = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(host), 0))) {
            findings.add(Finding.ok("ports", "ps.host " + host + ": a UDP socket binds (ephemeral port "
                + socket.getLocalPort() + "); the job takes " + (job.topology().shardsOnExecutors()
                ? "2 such ports here (the all-gather endpoint; each hosting executor takes 2 per shard and 1 more on"
                + " its own address)" : (2 * cfg.ps().shards() + 2) + " such ports")));
        } catch (IOException | SecurityException e) {
            findings.add(Finding.configFail("ports", "config key 'ps.host' is '" + host + "', which this machine cannot"
                + " bind (" + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()) + "): set it"
                + " to an address of this driver (127.0.0.1 for local runs, its cluster address otherwise)"));
            return findings;
        }
        if (!job.where().sameHost()) {
            try {
                if (InetAddress.getByName(host).isLoopbackAddress()) {
                    findings.add(Finding.warn("ports", "ps.host is " + host + " but spark.master is " + job.master()
                        + ": executors on other hosts cannot reach a loopback address; set ps.host to the driver's"
                        + " address"));
                }
            } catch (IOException ignored) {
                // reported above
            }
        }
        return findings;
    }
}
