package io.lockstep.driver.job;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.config.MetricMode;
import io.lockstep.worker.metrics.EvalMetrics;


/**
 * The validation metric a job watches, if any: for keeping the best model ({@code checkpoint.best})
 * and for early stopping ({@code early_stopping.metric}). Both mean the same "best", so when both
 * are set they must name the same metric.
 *
 * @param patience validations without improvement before stopping; 0 = no early stopping
 */
record Watch(String metric, boolean higherIsBetter, double minDelta, int patience) {

    /** @param task the job's task; @param hasValidation whether there is a validation set to watch */
    static Watch of(JobConfig cfg, String task, boolean hasValidation) {
        String stopOn = cfg.earlyStopping().metric();
        String keep = cfg.checkpoint().best();
        if (stopOn != null && keep != null && !stopOn.equals(keep)) {
            throw new ConfigLoader.ConfigException("config keys 'early_stopping.metric' (" + stopOn
                + ") and 'checkpoint.best' (" + keep + ") must name the same metric: both pick the best model");
        }
        String metric = stopOn != null ? stopOn : keep;
        if (metric == null) {
            return new Watch(null, false, 0, 0);
        }
        String key = stopOn != null ? "early_stopping.metric" : "checkpoint.best";
        if (!EvalMetrics.metricNames(task).contains(metric)) {
            throw new ConfigLoader.ConfigException("config key '" + key + "': '" + metric + "' is not a " + task
                + " metric (" + String.join(", ", EvalMetrics.metricNames(task)) + ")");
        }
        if (!hasValidation) {
            throw new ConfigLoader.ConfigException("config key '" + key + "' watches a validation metric, but there is"
                + " no validation set: set data.validation or data.validation_fraction");
        }
        MetricMode mode = stopOn != null ? cfg.earlyStopping().mode() : cfg.checkpoint().mode();
        boolean higher;
        try {
            higher = mode == null ? EvalMetrics.higherIsBetter(metric) : mode == MetricMode.MAX;
        } catch (IllegalArgumentException e) {
            throw new ConfigLoader.ConfigException("config key '" + key + "': " + e.getMessage());
        }
        return new Watch(metric, higher, stopOn != null ? cfg.earlyStopping().minDelta() : 0,
            stopOn != null ? cfg.earlyStopping().patience() : 0);
    }
}
