package io.lockstep.ps;

import org.agrona.UnsafeApi;

/**
 * The sample-weighted mean of dense float vectors where they lie in memory, into a Java array:
 * {@code (w0·v0 + w1·v1 + ...) / total} per value, summed in the given order. One loop per contributor over
 * Java arrays (each vector's values copied in with memcpy first), which the JIT vectorizes: the same operations
 * in the same order per value as one scalar loop over all contributors, so the results are bit-identical to it.
 * A first contributor of weight 0 adds nothing, whatever its vector holds (NaN included).
 *
 * <p>Used where the workers of one JVM reduce in shared memory: the split step's optimizer slices
 * ({@code SliceOptimizer.stage}) and a group's reduction ({@code JvmWorkerGroup}). Single-threaded; holds one
 * scratch array of the longest run it is asked for.
 */
public final class WeightedMean {
    private static final long FLOATS = UnsafeApi.arrayBaseOffset(float[].class);
    private final float[] next;

    /** For runs of at most {@code maxLength} values. */
    public WeightedMean(int maxLength) {
        this.next = new float[Math.max(1, maxLength)];
    }

    /**
     * {@code out[0, n)} = the weighted mean of the {@code n} floats at {@code addresses[m] + offset} (bytes),
     * {@code m < count}, weighted by {@code weights[m]} and divided by {@code total}.
     */
    public void into(float[] out, long[] addresses, long offset, float[] weights, int count, float total, int n) {
        long bytes = (long) n * Float.BYTES;
        float w0 = weights[0];
        if (w0 == 0) {
            java.util.Arrays.fill(out, 0, n, 0f);
        } else {
            UnsafeApi.copyMemory(null, addresses[0] + offset, out, FLOATS, bytes);
            for (int i = 0; i < n; i++) {
                out[i] = w0 * out[i];
            }
        }
        for (int m = 1; m < count; m++) {
            UnsafeApi.copyMemory(null, addresses[m] + offset, next, FLOATS, bytes);
            float w = weights[m];
            for (int i = 0; i < n; i++) {
                out[i] += w * next[i];
            }
        }
        for (int i = 0; i < n; i++) {
            out[i] = out[i] / total;
        }
    }
}
