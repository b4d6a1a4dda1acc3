package io.lockstep.driver.job;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.worker.metrics.EvalMetrics;

import java.util.Locale;

/**
 * The validation metric a job watches, if any: for keeping the best model ({@code checkpoint.best})
 * and for early stopping ({@code early_stopping.metric}). Both mean the same "best", so when both
 * are set they must name the same metric.
 *
 * @param patience validations without improvement before stopping; 0 = no early stopping
 */
record Watch(String metric, boolean higherIsBetter, double minDelta, int patience) {

    static Watch of(JobConfig cfg) {
        String stopOn = cfg.earlyStopping.metric;
        String keep = cfg.checkpoint.best;
        if (stopOn != null && keep != null && !stopOn.equals(keep)) {
            throw new ConfigLoader.ConfigException("config keys 'early_stopping.metric' (" + stopOn
                + ") and 'checkpoint.best' (" + keep + ") must name the same metric: both pick the best model");
        }
        String metric = stopOn != null ? stopOn : keep;
        if (metric == null) {
            return new Watch(null, false, 0, 0);
        }
        String key = stopOn != null ? "early_stopping" : "checkpoint";
        String mode = stopOn != null ? cfg.earlyStopping.mode : cfg.checkpoint.mode;
        boolean higher;
        try {
            higher = mode == null ? EvalMetrics.higherIsBetter(metric) : mode.toLowerCase(Locale.ROOT).equals("max");
        } catch (IllegalArgumentException e) {
            throw new ConfigLoader.ConfigException("config key '" + key + (stopOn != null ? ".metric" : ".best")
                + "': " + e.getMessage());
        }
        return new Watch(metric, higher, stopOn != null ? cfg.earlyStopping.minDelta : 0,
            stopOn != null ? cfg.earlyStopping.patience : 0);
    }
}
