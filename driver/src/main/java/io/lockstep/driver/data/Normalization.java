package io.lockstep.driver.data;

import io.lockstep.driver.config.Normalize;
import org.apache.spark.api.java.JavaRDD;

import java.io.Serializable;
import java.util.Arrays;

/**
 * Statistics of the training split in one Spark aggregate (row count, label range and, when a
 * normalization needs them, per-feature mean, variance, min and max), and the scaling fitted
 * from them. Only ever called on the training rows, so nothing of validation or test leaks in.
 */
final class Normalization {
    private Normalization() {
    }

    /** Mergeable per-partition statistics; feature moments by Chan et al.'s parallel update. */
    static final class Stats implements Serializable {
        long n;
        double labelMin = Double.POSITIVE_INFINITY;
        double labelMax = Double.NEGATIVE_INFINITY;
        final double[] mean;
        final double[] m2;
        final double[] min;
        final double[] max;

        Stats(int features) {
            mean = new double[features];
            m2 = new double[features];
            min = new double[features];
            max = new double[features];
            Arrays.fill(min, Double.POSITIVE_INFINITY);
            Arrays.fill(max, Double.NEGATIVE_INFINITY);
        }

        Stats add(Example e) {
            n++;
            labelMin = Math.min(labelMin, e.label());
            labelMax = Math.max(labelMax, e.label());
            float[] x = e.x();
            for (int i = 0; i < mean.length; i++) {
                double v = x[i];
                double delta = v - mean[i];
                mean[i] += delta / n;
                m2[i] += delta * (v - mean[i]);
                min[i] = Math.min(min[i], v);
                max[i] = Math.max(max[i], v);
            }
            return this;
        }

        Stats merge(Stats o) {
            if (o.n == 0) {
                return this;
            }
            long total = n + o.n;
            for (int i = 0; i < mean.length; i++) {
                double delta = o.mean[i] - mean[i];
                mean[i] += delta * o.n / total;
                m2[i] += o.m2[i] + delta * delta * n * o.n / total;
                min[i] = Math.min(min[i], o.min[i]);
                max[i] = Math.max(max[i], o.max[i]);
            }
            n = total;
            labelMin = Math.min(labelMin, o.labelMin);
            labelMax = Math.max(labelMax, o.labelMax);
            return this;
        }
    }

    /** One pass over the training rows; feature statistics only when {@code normalize} needs them. */
    static Stats stats(JavaRDD<Example> train, int features, Normalize normalize) {
        int tracked = normalize == Normalize.NONE ? 0 : features;
        return train.aggregate(new Stats(tracked), Stats::add, Stats::merge);
    }

    /** The scaling {@code normalize} (none, standardize or minmax) asks for, from the training statistics. */
    static FeatureScaling fit(Stats s, Normalize normalize) {
        switch (normalize) {
            case STANDARDIZE: {
                double[] std = new double[s.mean.length];
                for (int i = 0; i < std.length; i++) {
                    std[i] = Math.sqrt(Math.max(0, s.m2[i] / s.n)); // population standard deviation
                }
                return FeatureScaling.standardize(s.mean.clone(), std);
            }
            case MINMAX:
                return FeatureScaling.minmax(s.min.clone(), s.max.clone());
            default:
                return FeatureScaling.none();
        }
    }
}
