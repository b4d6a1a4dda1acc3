package io.lockstep.worker.train;

import io.lockstep.worker.metrics.EvalMetrics;

/**
 * Hooks into the training loop. Validation, early stopping, checkpoints and progress are built as
 * listeners, not as branches in the loop. Every replica runs the same listeners at the same points,
 * so decisions taken from merged (identical) data, like stopping early, are taken by all together.
 * Listeners run in the order given; one that produces something (validation) tells the others
 * through {@link Trainer#fireValidation}.
 */
public interface TrainingListener {

    default void onTrainingStart(Trainer trainer) throws Exception { }

    default void onStepEnd(Trainer trainer, StepResult step) throws Exception { }

    /** After the last step of epoch {@code epoch} (0-based); the state already points at the next one. */
    default void onEpochEnd(Trainer trainer, int epoch) throws Exception { }

    /** Metrics merged over all workers' parts of the validation set, identical on every replica. */
    default void onValidationEnd(Trainer trainer, EvalMetrics metrics) throws Exception { }

    default void onCheckpoint(Trainer trainer, String path) throws Exception { }

    default void onTrainingEnd(Trainer trainer) throws Exception { }
}
