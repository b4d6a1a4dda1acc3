package io.lockstep.worker.optim;

import org.bytedeco.javacpp.indexer.DoubleIndexer;
import org.bytedeco.javacpp.indexer.FloatIndexer;
import org.bytedeco.javacpp.indexer.Indexer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * Clipping of the whole averaged gradient, in place, identically on every replica.
 *
 * <p>Why not ND4J's {@code norm2Number()}: its native reduction splits the sum over OpenMP threads, so
 * the float result can depend on the thread count, and replicas on different machines would scale by
 * different factors and drift apart. Here the sum is one sequential pass in {@code double}, index 0 to
 * n-1, so equal gradients (which the exchange guarantees) give bit-equal results everywhere, and the
 * elementwise rescale is computed in double and rounded once to the array's type. The same order makes
 * the result equal to a plain Java loop over the values.
 *
 * <p>Why global, not DL4J's per-layer {@code GradientNormalization}: clipping each layer separately
 * changes the direction of the step; the global norm (PyTorch's {@code clip_grad_norm_}) only shortens it.
 *
 * <p>Accepts a contiguous FLOAT or DOUBLE vector: [n], or [1, n] / [n, 1] in 'c' or 'f' order (the
 * network's gradient view), also a view at an offset into a larger buffer.
 */
public final class GradientClipping {
    /**
     * Added to the norm in the scale, {@code maxNorm / (norm + 1e-6)}, as PyTorch's {@code clip_grad_norm_}
     * does: keeps the division safe, and leaves the clipped norm a hair (relative 1e-6 / norm) under
     * {@code maxNorm} rather than over it.
     */
    public static final double NORM_EPSILON = 1e-6;

    private GradientClipping() {
    }

    /** The L2 norm {@code sqrt(sum_i g_i^2)}, summed in double in index order. */
    public static double globalNorm(INDArray flat) {
        Indexer ix = indexer(flat);
        long n = flat.length();
        double sum = 0;
        if (ix instanceof FloatIndexer f) {
            for (long i = 0; i < n; i++) {
                double v = f.get(i);
                sum += v * v;
            }
        } else {
            DoubleIndexer d = (DoubleIndexer) ix;
            for (long i = 0; i < n; i++) {
                double v = d.get(i);
                sum += v * v;
            }
        }
        return Math.sqrt(sum);
    }

    /**
     * If {@code norm = ||g||_2 > maxNorm}: {@code g_i := g_i * maxNorm / (norm + 1e-6)}; otherwise unchanged.
     * A non-finite norm (NaN or infinite elements) is left alone: scaling would not repair it, and the
     * returned norm lets the caller stop the run.
     *
     * @return the norm before clipping
     */
    public static double clipByGlobalNorm(INDArray flat, double maxNorm) {
        if (!(maxNorm > 0) || Double.isInfinite(maxNorm)) {
            throw new IllegalArgumentException("clipping.threshold must be > 0, got " + Num.str(maxNorm));
        }
        double norm = globalNorm(flat);
        if (Double.isFinite(norm) && norm > maxNorm) {
            scale(flat, maxNorm / (norm + NORM_EPSILON));
        }
        return norm;
    }

    /**
     * {@code g_i := min(limit, max(-limit, g_i))}, elementwise; NaN stays NaN.
     *
     * @return {@code max_i |g_i|} before clipping (NaN if some element is NaN)
     */
    public static double clipByValue(INDArray flat, double limit) {
        if (!(limit > 0) || Double.isInfinite(limit)) {
            throw new IllegalArgumentException("clipping.threshold must be > 0, got " + Num.str(limit));
        }
        Indexer ix = indexer(flat);
        long n = flat.length();
        double maxAbs = 0;
        if (ix instanceof FloatIndexer f) {
            float hi = (float) limit;
            for (long i = 0; i < n; i++) {
                float v = f.get(i);
                maxAbs = Math.max(maxAbs, Math.abs(v));
                if (v > hi) {
                    f.put(i, hi);
                } else if (v < -hi) {
                    f.put(i, -hi);
                }
            }
        } else {
            DoubleIndexer d = (DoubleIndexer) ix;
            for (long i = 0; i < n; i++) {
                double v = d.get(i);
                maxAbs = Math.max(maxAbs, Math.abs(v));
                if (v > limit) {
                    d.put(i, limit);
                } else if (v < -limit) {
                    d.put(i, -limit);
                }
            }
        }
        return maxAbs;
    }

    private static void scale(INDArray flat, double factor) {
        Indexer ix = indexer(flat);
        long n = flat.length();
        if (ix instanceof FloatIndexer f) {
            for (long i = 0; i < n; i++) {
                f.put(i, (float) (f.get(i) * factor));
            }
        } else {
            DoubleIndexer d = (DoubleIndexer) ix;
            for (long i = 0; i < n; i++) {
                d.put(i, d.get(i) * factor);
            }
        }
    }

    /**
     * The buffer's indexer, which addresses the array's own elements from 0 (a view's buffer starts at
     * the view's offset); valid as a flat index because the vector is contiguous.
     */
    private static Indexer indexer(INDArray flat) {
        if (flat.isEmpty()) {
            return null; // no values: every loop runs 0 times
        }
        if (!flat.isVectorOrScalar()) {
            throw new IllegalArgumentException("gradient clipping needs a flat vector, got shape " + Arrays.toString(flat.shape()));
        }
        if (flat.length() > 1 && flat.elementWiseStride() != 1) {
            throw new IllegalArgumentException("gradient clipping needs a contiguous vector, got shape "
                + Arrays.toString(flat.shape()) + " strides " + Arrays.toString(flat.stride()));
        }
        if (flat.dataType() != DataType.FLOAT && flat.dataType() != DataType.DOUBLE) {
            throw new IllegalArgumentException("gradient clipping supports FLOAT and DOUBLE, got " + flat.dataType());
        }
        Nd4j.getExecutioner().commit(); // pending native work on the array must land before we read it
        Indexer ix = flat.data().indexer();
        if (ix.size(0) < flat.length()) {
            throw new IllegalStateException("buffer indexer covers " + ix.size(0) + " values, array has " + flat.length());
        }
        return ix;
    }
}
