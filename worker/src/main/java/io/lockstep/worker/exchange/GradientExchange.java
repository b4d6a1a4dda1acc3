package io.lockstep.worker.exchange;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.concurrent.TimeoutException;

/**
 * How a replica turns its batch-mean gradient into the mean over all workers' samples, in place.
 * The Aeron parameter-server client is one implementation; {@link LocalExchange} (one worker, no
 * network) another. One instance per replica, used by the replica's training thread only.
 */
public interface GradientExchange extends AutoCloseable {

    /**
     * Replaces the mean gradient of this worker's {@code samples}-sample batch in {@code gradient}
     * (a dense float32 vector) with the sample-weighted mean over all workers for {@code step}.
     * {@code samples == 0} means this worker sits the step out (its data is exhausted).
     * {@code loss} is this worker's batch loss; NaN marks a non-finite local gradient.
     */
    void exchange(long step, INDArray gradient, int samples, float loss) throws TimeoutException, InterruptedException;

    /** Samples behind the last exchanged average, all workers together. */
    long totalSamples();

    /** Sample-weighted mean loss of the last exchanged step over all workers. */
    float meanLoss();

    /**
     * Every worker contributes one blob for {@code round} (strictly increasing within a job) and gets
     * all of them back, indexed by rank, identical on every worker.
     */
    byte[][] allGather(long round, byte[] blob) throws TimeoutException, InterruptedException;

    int rank();

    int workers();

    @Override
    void close();
}
