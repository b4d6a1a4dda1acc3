package io.lockstep.worker.listener;

import io.lockstep.worker.metrics.EvalMetrics;
import io.lockstep.worker.train.TrainState;
import io.lockstep.worker.train.Trainer;
import io.lockstep.worker.train.TrainingListener;

import java.util.Locale;

/**
 * Stops training once the watched metric has not improved for {@code patience} validations. It
 * reads the bookkeeping {@link BestModelListener} keeps in the train state, which every replica
 * updates from the same merged metrics: all replicas stop at the same step.
 */
public final class EarlyStoppingListener implements TrainingListener {
    private final String metric;
    private final int patience;

    public EarlyStoppingListener(String metric, int patience) {
        if (patience < 1) {
            throw new IllegalArgumentException("early_stopping.patience must be >= 1, got " + patience);
        }
        this.metric = metric;
        this.patience = patience;
    }

    @Override
    public void onValidationEnd(Trainer trainer, EvalMetrics metrics) {
        TrainState s = trainer.state();
        if (s.sinceBest() >= patience) {
            trainer.requestStop(String.format(Locale.ROOT,
                "early stopping: %s did not improve for %d validations; best %.6g at epoch %d (step %d)",
                metric, patience, s.bestValue(), s.bestEpoch(), s.bestStep()));
        }
    }
}
