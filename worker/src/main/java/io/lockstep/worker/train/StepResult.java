package io.lockstep.worker.train;

/**
 * One finished synchronous step as a replica saw it.
 *
 * @param step          the global step number (0-based)
 * @param epoch         the epoch it belonged to (0-based)
 * @param localSamples  samples this worker contributed (0 once its data is exhausted)
 * @param globalSamples samples of all workers together
 * @param loss          sample-weighted mean loss over all workers
 * @param clipStatistic what clipping measured on the averaged gradient before clipping: its global L2 norm
 *                      (norm) or largest |value| (value); NaN without clipping
 * @param skipped       the averaged gradient was non-finite and {@code on_non_finite: skip} dropped the step
 */
public record StepResult(long step, int epoch, int localSamples, long globalSamples, float loss, double clipStatistic,
                         boolean skipped) {
}
