package io.lockstep.driver.doctor;

import static io.lockstep.driver.doctor.Bytes.MIB;

/**
 * The shared memory (/dev/shm) the embedded Aeron media drivers of a job map.
 *
 * <p>Measured with Lockstep's driver settings (Aeron 1.51, 2 shards, 2 workers, the default 8 MiB terms): each
 * embedded media driver maps a 47 MiB cnc.dat; each publication and each image of a gradient stream is a log
 * buffer of 3 terms, all touched once the stream has carried 3 terms of data; the all-gather's buffers stay
 * nearly empty (about 1 MiB). That gives 191 MiB for the parameter server's driver and 143 MiB for an executor
 * JVM with one worker, as measured.
 */
final class AeronFootprint {
    static final long CNC_BYTES = 47 * MIB;
    static final long GATHER_BUFFER_BYTES = MIB;

    private AeronFootprint() {
    }

    /** Bytes of one log buffer of a gradient stream: three terms and a page of metadata. */
    static long logBuffer(long termLength) {
        return 3 * termLength + 4096;
    }

    /** The parameter server's media driver: per shard one image per worker and its own publication. */
    static long serverDriverBytes(int shards, int workers, long term) {
        return CNC_BYTES + (long) shards * (workers + 1) * logBuffer(term) + (workers + 1) * GATHER_BUFFER_BYTES;
    }

    /** The workers' media driver of one JVM with {@code w} workers: per shard a publication each and one shared image. */
    static long workersDriverBytes(int shards, int w, long term) {
        return CNC_BYTES + (long) shards * (w + 1) * logBuffer(term) + (w + 1) * GATHER_BUFFER_BYTES;
    }

    /** Shared memory the driver JVM needs (with every driver this host runs, for local masters). */
    static long driverHostNeeds(Setting job, long term) {
        int shards = job.topology().shardCount();
        int workers = job.cfg().workers();
        String exchange = job.topology().exchangeKind();
        if (exchange.equals("memory")) {
            return 0;
        }
        if (exchange.equals("ipc")) {
            // one shared driver; IPC subscribers read the publications' own log buffers
            return CNC_BYTES + (long) shards * (workers + 1) * logBuffer(term) + (workers + 1) * GATHER_BUFFER_BYTES;
        }
        long server = serverDriverBytes(shards, workers, term);
        Placement where = job.where();
        if (where.workersInDriver()) {
            return server + workersDriverBytes(shards, workers, term);
        }
        if (where.sameHost()) {
            return server + where.executors() * workersDriverBytes(shards, where.workersPerExecutor(), term);
        }
        // another host's executors: with the shards there, the driver keeps only the all-gather endpoint
        return job.topology().shardsOnExecutors() ? serverDriverBytes(0, workers, term) : server;
    }

    /** Shared memory each executor JVM on another host needs: its workers' driver, and its share of the shards. */
    static long executorNeeds(Setting job, long term) {
        int shards = job.topology().shardCount();
        int perExecutor = job.where().workersPerExecutor();
        int workers = job.cfg().workers();
        return workersDriverBytes(shards, perExecutor, term) + (job.topology().shardsOnExecutors()
            ? serverDriverBytes((shards * perExecutor + workers - 1) / workers, workers, term) : 0);
    }
}
