package io.lockstep.driver.doctor;

import io.lockstep.driver.config.StepPlacement;
import io.lockstep.ps.ExchangeRules;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.Terms;
import io.lockstep.ps.media.AeronFiles;

/**
 * The files the embedded Aeron media drivers of a job map in their directory (/dev/shm, or {@code ps.aeron_dir}):
 * the sizes {@link AeronFiles} gives every driver, the terms the exchange resolves ({@code Topology#terms}), and
 * per driver the streams it holds, by kind. Counted at their full length (what Aeron asks the file system for);
 * term buffers are sparse, so the pages written stay below it where a stream carries little (the side streams).
 *
 * <p>Streams per driver, UDP: a server's driver has, per shard it runs, an image of each worker's gradients and a
 * publication of the answers; the driver JVM's also the all-gather's (an image per rank and, shards on the
 * executors, one of shard 0's step reports; a publication back), shard 0's executor a publication of those
 * reports; shards on the executors add one norm publication and image per other server. A workers' driver has per
 * worker a publication to each shard and to the all-gather, and one image of each shard's answers and of the
 * all-gather, shared by the JVM's workers. IPC: one driver, publications only (subscribers read the publication's
 * own log). Measured against a real run by ShmEstimateTest and on a local cluster (docs/containers.md).
 */
final class AeronFootprint {
    private AeronFootprint() {
    }

    /** Logs of one driver, by the kind of stream: gradients, answers, side streams. */
    record Logs(int upstream, int answers, int side) {
        Logs plus(Logs o) {
            return new Logs(upstream + o.upstream, answers + o.answers, side + o.side);
        }

        long bytes(Terms t) {
            return upstream * AeronFiles.logBytes(t.upstream()) + answers * AeronFiles.logBytes(t.answers())
                + side * AeronFiles.logBytes(t.side());
        }
    }

    /**
     * The terms the exchange will use for a model of {@code params} parameters (-1: unknown: auto's largest
     * gradient term for all three).
     */
    static Terms terms(Setting job, long params) {
        int mtu = job.cfg().ps().mtu().resolve(job.topology().host());
        Integer given = job.cfg().ps().termLength().bytes();
        if (params < job.topology().shardCount() || params > Integer.MAX_VALUE) {
            return Terms.of(given != null ? given : ExchangeRules.AUTO_TERM_CEILING);
        }
        ShardLayout layout = job.topology().layout((int) params, mtu);
        // the optimizer on the server unless placed on the replicas: its state goes back for checkpoints
        boolean server = job.cfg().optimizer().stepPlacement() != StepPlacement.REPLICA;
        return job.topology().terms(layout, mtu, server ? ModelSize.stateCopies(job.cfg()) : -1);
    }

    static long driverBytes(int shards, int workers, Logs logs, Terms terms) {
        return AeronFiles.driverBytes(shards, workers, 0, terms.side()) + logs.bytes(terms);
    }

    /**
     * A server's driver running {@code hosted} of the job's {@code shards} shards, with {@code side} logs of the
     * all-gather, step reports and the norm links.
     */
    static Logs serverLogs(int workers, int hosted, int side) {
        return new Logs(hosted * workers, hosted, side);
    }

    /** The workers' driver of a JVM with {@code w} workers. */
    static Logs workersLogs(int shards, int w) {
        return new Logs(w * shards, shards, w + 1);
    }

    /** Shared memory the driver JVM needs (with every driver this host runs, for local masters). */
    static long driverHostNeeds(Setting job, Terms terms) {
        int shards = job.topology().shardCount();
        int workers = job.cfg().workers();
        String exchange = job.topology().exchangeKind();
        if (exchange.equals("memory")) {
            return 0;
        }
        if (exchange.equals("ipc")) {
            return driverBytes(shards, workers, new Logs(workers * shards, shards, workers + 1), terms);
        }
        Placement where = job.where();
        boolean onExecutors = job.topology().shardsOnExecutors();
        // the all-gather: an image per rank and a publication back; shard 0's step reports come over the wire
        // from an executor (an image more), from a shard in this JVM they do not
        long server = driverBytes(shards, workers,
            serverLogs(workers, onExecutors ? 0 : shards, workers + 1 + (onExecutors ? 1 : 0)), terms);
        if (where.workersInDriver()) {
            return server + driverBytes(shards, workers, workersLogs(shards, workers), terms);
        }
        if (where.sameHost()) {
            return server + where.executors() * executorNeeds(job, terms);
        }
        return server;
    }

    /** Shared memory each executor JVM needs: its workers' driver, and the server of its share of the shards. */
    static long executorNeeds(Setting job, Terms terms) {
        int shards = job.topology().shardCount();
        int perExecutor = job.where().workersPerExecutor();
        int workers = job.cfg().workers();
        long bytes = driverBytes(shards, workers, workersLogs(shards, perExecutor), terms);
        if (job.topology().shardsOnExecutors()) {
            int hosted = 0; // the shards next to the ranks of the first executor: as many as any other's
            for (int s = 0; s < shards; s++) {
                hosted += ExchangeSpec.hostRank(s, shards, workers) < perExecutor ? 1 : 0;
            }
            int servers = Math.min(shards, (workers + perExecutor - 1) / perExecutor);
            // shard 0's executor: its step reports; the norm links to the other servers
            bytes += driverBytes(shards, workers, serverLogs(workers, hosted, 1 + 2 * (servers - 1)), terms);
        }
        return bytes;
    }
}
