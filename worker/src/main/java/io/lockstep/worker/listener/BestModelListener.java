package io.lockstep.worker.listener;

import io.lockstep.worker.metrics.EvalMetrics;
import io.lockstep.worker.train.Trainer;
import io.lockstep.worker.train.TrainingListener;

import java.util.function.Consumer;

/**
 * Keeps the best parameters by a validation metric: after each validation it records the value in
 * the train state (the same on every replica) and, when it improved, rank 0 keeps a copy of the
 * parameters and calls {@code onBest} (e.g. to write the best checkpoint). Early stopping
 * reads the same bookkeeping, so "best" means one thing in the whole job.
 */
public final class BestModelListener implements TrainingListener {
    private final String metric;
    private final boolean higherIsBetter;
    private final double minDelta;
    private final Consumer<Trainer> onBest;
    private float[] bestParams;

    public BestModelListener(String metric, boolean higherIsBetter, double minDelta, float[] bestSoFar,
                             Consumer<Trainer> onBest) {
        this.metric = metric;
        this.higherIsBetter = higherIsBetter;
        this.minDelta = minDelta;
        this.bestParams = bestSoFar;
        this.onBest = onBest;
    }

    @Override
    public void onValidationEnd(Trainer trainer, EvalMetrics metrics) {
        double value = metrics.metric(metric);
        if (trainer.state().offer(value, higherIsBetter, minDelta) && trainer.rank() == 0) {
            bestParams = trainer.network().params().toFloatVector();
            onBest.accept(trainer);
        }
    }

    /** Rank 0's copy of the best parameters so far (null before the first validation, and on other ranks). */
    public float[] bestParams() {
        return bestParams;
    }

    public String metric() {
        return metric;
    }
}
