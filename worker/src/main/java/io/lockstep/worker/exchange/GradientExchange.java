package io.lockstep.worker.exchange;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.concurrent.TimeoutException;

/**
 * How a replica turns its batch-mean gradient into the step every replica takes. Two placements of
 * the optimizer ({@code optimizer.step_placement}):
 * <ul>
 *   <li>replica ({@link #appliesOptimizer()} false): {@link #exchange} replaces the gradient with the mean
 *       over all workers' samples, and every replica applies its own DL4J updater to it;</li>
 *   <li>server (true): the exchange's server applies the optimizer step once, to the mean, and
 *       {@link #exchange} writes the resulting parameters over the replica's; the optimizer state lives
 *       there too ({@link #optimizerState}).</li>
 * </ul>
 * The Aeron parameter-server client is one implementation; {@link SingleWorkerExchange} (one worker, no
 * network) another. One instance per replica, used by the replica's training thread only.
 */
public interface GradientExchange extends AutoCloseable {

    /**
     * Exchanges step {@code step}: this worker's {@code samples}-sample batch mean is in {@code gradient} (a
     * dense float32 vector); {@code samples == 0} means this worker sits the step out (its data is exhausted);
     * {@code loss} is its batch loss, NaN marking a non-finite local gradient. Replica placement:
     * {@code gradient} then holds the sample-weighted mean over all workers. Server placement: {@code params}
     * holds the parameters after the step (unchanged if the step was {@link #skipped()}) and {@code gradient}
     * is left undefined.
     */
    void exchange(long step, INDArray gradient, INDArray params, int samples, float loss)
        throws TimeoutException, InterruptedException;

    /** True when the optimizer runs behind the exchange (placement server), not on the replica. */
    boolean appliesOptimizer();

    /**
     * True when {@link #exchange} leaves the gradient vector as it was (with the optimizer in the exchange the
     * answer goes to the parameters): the trainer may then check it after the exchange, and only when the step
     * turned out non-finite. False for an exchange that writes over it (a group's shared reduction).
     */
    default boolean keepsGradient() {
        return appliesOptimizer();
    }

    /** Placement server: true when the last step's mean gradient was not finite and nothing was applied. */
    boolean skipped();

    /** Placement server: the global L2 norm of the last step's mean gradient, before clipping. */
    double gradientNorm();

    /**
     * Placement server: the optimizer state after {@code step} (the last exchanged), slot-major (slot k of
     * parameter i at k·n + i; Adam: m then v); the caller's to keep. Called between steps, by every rank
     * that needs it, at most once per step.
     */
    float[] optimizerState(long step) throws TimeoutException, InterruptedException;

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

    /** The address of a dense float32 vector at offset 0, or a clear error. */
    static long address(INDArray v, String what) {
        if (v.dataType() != org.nd4j.linalg.api.buffer.DataType.FLOAT || v.offset() != 0) {
            throw new IllegalArgumentException("the exchange needs a dense float32 " + what + " at offset 0, got "
                + v.dataType() + " at offset " + v.offset());
        }
        return v.data().address();
    }
}
