package io.lockstep.driver.data;

import org.nd4j.linalg.dataset.api.preprocessor.DataNormalization;
import org.nd4j.linalg.dataset.api.preprocessor.ImagePreProcessingScaler;
import org.nd4j.linalg.dataset.api.preprocessor.NormalizerMinMaxScaler;
import org.nd4j.linalg.dataset.api.preprocessor.NormalizerStandardize;
import org.nd4j.linalg.factory.Nd4j;

import java.io.Serializable;

/**
 * The feature preprocessing a job applied, x' = (x - shift) * scale per feature, fitted on the
 * training split only. It is applied while loading and saved into model.zip as the matching
 * DL4J normalizer, so whoever restores the model can preprocess new data the same way.
 */
public record FeatureScaling(String kind, float[] a, float[] b) implements Serializable {

    /** IDX pixels: bytes already divided by 255 while reading. */
    public static FeatureScaling pixels() {
        return new FeatureScaling("pixels", null, null);
    }

    public static FeatureScaling none() {
        return new FeatureScaling("none", null, null);
    }

    /** a = mean, b = standard deviation (0 treated as 1: a constant column stays 0). */
    public static FeatureScaling standardize(double[] mean, double[] std) {
        return new FeatureScaling("standardize", toFloat(mean), toFloat(std));
    }

    /** a = min, b = max (equal min and max map to 0). */
    public static FeatureScaling minmax(double[] min, double[] max) {
        return new FeatureScaling("minmax", toFloat(min), toFloat(max));
    }

    public float[] apply(float[] x) {
        switch (kind) {
            case "standardize" -> {
                for (int i = 0; i < x.length; i++) {
                    x[i] = (x[i] - a[i]) / (b[i] > 0 ? b[i] : 1f);
                }
            }
            case "minmax" -> {
                for (int i = 0; i < x.length; i++) {
                    float range = b[i] - a[i];
                    x[i] = range > 0 ? (x[i] - a[i]) / range : 0f;
                }
            }
            default -> { }
        }
        return x;
    }

    /** The DL4J normalizer doing the same, or null when features are used as they are. */
    public DataNormalization toDl4j() {
        switch (kind) {
            case "pixels":
                return new ImagePreProcessingScaler(0, 1);
            case "standardize": {
                float[] std = b.clone();
                for (int i = 0; i < std.length; i++) {
                    std[i] = std[i] > 0 ? std[i] : 1f;
                }
                return new NormalizerStandardize(Nd4j.create(a).reshape(1, a.length),
                    Nd4j.create(std).reshape(1, std.length));
            }
            case "minmax": {
                NormalizerMinMaxScaler n = new NormalizerMinMaxScaler(0, 1);
                n.setFeatureStats(Nd4j.create(a).reshape(1, a.length), Nd4j.create(b).reshape(1, b.length));
                return n;
            }
            default:
                return null;
        }
    }

    private static float[] toFloat(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }
}
