package io.lockstep.worker.train;

import io.lockstep.worker.data.BatchSource;

/**
 * Epochs of steps, from wherever the trainer's state stands (0, or a resumed position in the
 * middle of an epoch) to the last epoch or an early stop, with the listeners called at each hook.
 */
public final class TrainingLoop {
    private TrainingLoop() {
    }

    public static void run(Trainer trainer, BatchSource batches) throws Exception {
        TrainState state = trainer.state();
        TrainerOptions options = trainer.options();
        for (TrainingListener l : trainer.listeners()) {
            l.onTrainingStart(trainer);
        }
        while (state.epoch() < options.epochs() && !trainer.stopRequested()) {
            int epoch = state.epoch();
            StepResult result = trainer.step(batches);
            for (TrainingListener l : trainer.listeners()) {
                l.onStepEnd(trainer, result);
            }
            if (state.epoch() != epoch) {
                for (TrainingListener l : trainer.listeners()) {
                    l.onEpochEnd(trainer, epoch);
                }
            }
        }
        for (TrainingListener l : trainer.listeners()) {
            l.onTrainingEnd(trainer);
        }
    }
}
