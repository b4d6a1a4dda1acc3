package io.lockstep.worker.listener;

import io.lockstep.worker.train.StepClock;
import io.lockstep.worker.train.StepResult;
import io.lockstep.worker.train.Trainer;
import io.lockstep.worker.train.TrainingListener;

/**
 * Ships each replica's step timeline ({@link StepClock}) to the driver through the parameter
 * server's all-gather: after every step the driver writes a metrics.jsonl line for ({@code
 * log_every}, each epoch's last), whenever the window is full, and once at the end. The driver
 * sees every rank's times of the same steps together, which is what the wait for the slowest rank
 * is worked out from. One all-gather of a fixed {@value StepClock#WINDOW}-step blob per logged step.
 *
 * <p>Must be the first listener: its rounds ({@link Trainer#ROUND_TIMELINE}) come before the
 * validation round of the same step, and rounds must increase.
 */
public final class TimelineListener implements TrainingListener {
    private final int logEvery;

    public TimelineListener(int logEvery) {
        if (logEvery < 1) {
            throw new IllegalArgumentException("log_every must be >= 1, got " + logEvery);
        }
        this.logEvery = logEvery;
    }

    @Override
    public void onStepEnd(Trainer trainer, StepResult step) throws Exception {
        long done = step.step() + 1;
        if (done % logEvery == 0 || done % trainer.options().stepsPerEpoch() == 0 || trainer.clock().full()) {
            ship(trainer);
        }
    }

    /** Every rank has the same steps in its window, so all take this round or none. */
    @Override
    public void onTrainingEnd(Trainer trainer) throws Exception {
        if (trainer.clock().steps() > 0) {
            ship(trainer);
        }
    }

    private static void ship(Trainer trainer) throws Exception {
        trainer.exchange().allGather(Trainer.round(trainer.state().step(), Trainer.ROUND_TIMELINE),
            trainer.clock().ship());
    }
}
