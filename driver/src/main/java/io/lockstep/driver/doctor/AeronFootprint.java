package io.lockstep.driver.doctor;

import io.lockstep.ps.ExchangeRules;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.media.AeronFiles;

/**
 * The files the embedded Aeron media drivers of a job map in their directory (/dev/shm, or {@code ps.aeron_dir}):
 * the sizes {@link AeronFiles} gives every driver, the term the exchange resolves ({@code Topology#termLength}),
 * and per driver the streams it holds. Counted at their full length (what Aeron asks the file system for); term
 * buffers are sparse, so the pages written stay below it where a stream carries little (the all-gather).
 *
 * <p>Streams per driver, UDP: a server's driver has, per shard it runs, an image of each worker's gradients and a
 * publication of the answers; the driver JVM's also the all-gather's (an image per rank, a publication back); shards on the executors add one norm publication and image per other server. A
 * workers' driver has per worker a publication to each shard and to the all-gather, and one image of each shard's
 * answers and of the all-gather, shared by the JVM's workers. IPC: one driver, publications only (subscribers read
 * the publication's own log).
 */
final class AeronFootprint {
    private AeronFootprint() {
    }

    /** The term the exchange will use for a model of {@code params} parameters (-1: unknown: auto's largest). */
    static int term(Setting job, long params) {
        int mtu = job.cfg().ps().mtu().resolve(job.topology().host());
        if (params < job.topology().shardCount() || params > Integer.MAX_VALUE) {
            Integer given = job.cfg().ps().termLength().bytes();
            return given != null ? given : ExchangeRules.AUTO_TERM_CEILING;
        }
        ShardLayout layout = job.topology().layout((int) params, mtu);
        return job.topology().termLength(layout, mtu, true);
    }

    /** A server's driver running {@code hosted} of the job's {@code shards} shards. */
    static long serverDriverBytes(int shards, int workers, int hosted, boolean gather, int otherServers, int term) {
        int logs = hosted * (workers + 1) + (gather ? workers + 1 : 0) + 2 * otherServers;
        return AeronFiles.driverBytes(shards, workers, logs, term);
    }

    /** The workers' driver of a JVM with {@code w} of the job's {@code workers} workers. */
    static long workersDriverBytes(int shards, int workers, int w, int term) {
        return AeronFiles.driverBytes(shards, workers, (w + 1) * (shards + 1), term);
    }

    /** Shared memory the driver JVM needs (with every driver this host runs, for local masters). */
    static long driverHostNeeds(Setting job, int term) {
        int shards = job.topology().shardCount();
        int workers = job.cfg().workers();
        String exchange = job.topology().exchangeKind();
        if (exchange.equals("memory")) {
            return 0;
        }
        if (exchange.equals("ipc")) {
            return AeronFiles.driverBytes(shards, workers, workers * shards + shards + workers + 1, term);
        }
        Placement where = job.where();
        boolean onExecutors = job.topology().shardsOnExecutors();
        long server = serverDriverBytes(shards, workers, onExecutors ? 0 : shards, true, 0, term);
        if (where.workersInDriver()) {
            return server + workersDriverBytes(shards, workers, workers, term);
        }
        if (where.sameHost()) {
            return server + where.executors() * executorNeeds(job, term);
        }
        return server;
    }

    /** Shared memory each executor JVM needs: its workers' driver, and the server of its share of the shards. */
    static long executorNeeds(Setting job, int term) {
        int shards = job.topology().shardCount();
        int perExecutor = job.where().workersPerExecutor();
        int workers = job.cfg().workers();
        long bytes = workersDriverBytes(shards, workers, perExecutor, term);
        if (job.topology().shardsOnExecutors()) {
            int hosted = 0; // the shards next to the ranks of the first executor: as many as any other's
            for (int s = 0; s < shards; s++) {
                hosted += ExchangeSpec.hostRank(s, shards, workers) < perExecutor ? 1 : 0;
            }
            int servers = Math.min(shards, (workers + perExecutor - 1) / perExecutor);
            bytes += serverDriverBytes(shards, workers, hosted, false, servers - 1, term);
        }
        return bytes;
    }
}
