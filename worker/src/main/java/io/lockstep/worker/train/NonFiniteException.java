package io.lockstep.worker.train;

/** The loss or averaged gradient of a step was NaN or infinite and the job is set to fail on it. */
public final class NonFiniteException extends IllegalStateException {
    public NonFiniteException(String message) {
        super(message);
    }
}
