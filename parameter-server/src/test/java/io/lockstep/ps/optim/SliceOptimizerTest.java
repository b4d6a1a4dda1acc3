package io.lockstep.ps.optim;

import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The shard optimizer on its own: slicing does not change a result, each role does what it says, fresh state
 * and clipping follow DL4J's conventions. (Equality with DL4J's updater itself: the worker's ServerMirrorTest.)
 */
class SliceOptimizerTest {
    static final int N = 1000;

    static UpdateRule adam(UpdateRule.Clip clip, double threshold) {
        return new UpdateRule(UpdateRule.Kind.ADAM, t -> 0.01 * (t + 1) / (t + 2), 0, false, 0.9, 0.999, 1e-8, 0.95,
            1e-4, 1e-3, 0, clip, threshold);
    }

    /** weight 0-400, bias 400-450, assign 450-500, frozen 500-600, weight 600-1000. */
    static ParamRoles mixed() {
        return new ParamRoles.Builder().add(ParamRoles.WEIGHT, 400).add(ParamRoles.BIAS, 50)
            .add(ParamRoles.ASSIGN, 50).add(ParamRoles.FROZEN, 100).add(ParamRoles.WEIGHT, 400).build();
    }

    static float[] random(Random r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextGaussian() * scale);
        }
        return a;
    }

    static UnsafeBuffer buffer(float[] values, int from, int length) {
        UnsafeBuffer b = new UnsafeBuffer(ByteBuffer.allocateDirect(Math.max(1, length) * Float.BYTES));
        for (int i = 0; i < length; i++) {
            b.putFloat(i * Float.BYTES, values[from + i]);
        }
        return b;
    }

    static float[] params(SliceOptimizer... slices) {
        float[] out = new float[N];
        for (SliceOptimizer s : slices) {
            for (int i = 0; i < s.length(); i++) {
                out[s.start() + i] = s.params().getFloat(i * Float.BYTES);
            }
        }
        return out;
    }

    /** Runs 20 steps of random gradients through {@code slices}, global-norm clipping summed over them. */
    static float[] run(UpdateRule rule, float[] start, SliceOptimizer... slices) {
        Random r = new Random(5);
        for (SliceOptimizer s : slices) {
            s.load(start, null);
        }
        for (int t = 0; t < 20; t++) {
            float[] g = random(r, N, 0.5);
            double sum = 0;
            for (SliceOptimizer s : slices) {
                sum += s.stage(buffer(g, s.start(), s.length()));
            }
            double scale = rule.clipScale(Math.sqrt(sum));
            for (SliceOptimizer s : slices) {
                s.apply(t, scale);
            }
        }
        return params(slices);
    }

    @Test
    void stagingContributorsWhereTheyLieIsTheWeightedMeanBitForBit() {
        Random r = new Random(9);
        int n = 10_007;
        UnsafeBuffer[] grads = new UnsafeBuffer[3];
        long[] addresses = new long[3];
        for (int m = 0; m < 3; m++) {
            float[] values = random(r, n, 3);
            values[m * 11] = m == 2 ? Float.NaN : values[m * 11]; // the third contributor has no samples below
            grads[m] = buffer(values, 0, n);
            addresses[m] = grads[m].addressOffset();
        }
        for (float[] weights : new float[][]{{64, 64, 0}, {0, 5, 0}, {17, 33, 0}, {7, 0, 0}}) {
            int count = weights[2] == 0 ? 2 : 3;
            float total = weights[0] + weights[1];
            // the definition: one loop, per value (w0·g0 + w1·g1) / total; a contributor without samples adds 0
            float[] want = new float[n];
            for (int i = 0; i < n; i++) {
                float acc = weights[0] == 0 ? 0f : weights[0] * grads[0].getFloat(i * 4);
                for (int m = 1; m < count; m++) {
                    acc += weights[m] * grads[m].getFloat(i * 4);
                }
                want[i] = acc / total;
            }
            SliceOptimizer split = new SliceOptimizer(adam(UpdateRule.Clip.NONE, 0), ParamRoles.allWeights(n), 0, n);
            SliceOptimizer whole = new SliceOptimizer(adam(UpdateRule.Clip.NONE, 0), ParamRoles.allWeights(n), 0, n);
            split.load(new float[n], null);
            whole.load(new float[n], null);
            assertEquals(whole.stage(buffer(want, 0, n)), split.stage(addresses, weights, count, total),
                "sum of squares, weights " + java.util.Arrays.toString(weights));
            split.apply(0, 1);
            whole.apply(0, 1);
            for (int i = 0; i < n; i++) {
                assertEquals(Float.floatToRawIntBits(whole.params().getFloat(i * 4)),
                    Float.floatToRawIntBits(split.params().getFloat(i * 4)), "value " + i);
            }
        }
    }

    @Test
    void slicingDoesNotChangeTheResult() {
        UpdateRule rule = adam(UpdateRule.Clip.NORM, 5);
        ParamRoles roles = mixed();
        float[] start = random(new Random(1), N, 1);
        float[] whole = run(rule, start, new SliceOptimizer(rule, roles, 0, N));
        float[] cut = run(rule, start, new SliceOptimizer(rule, roles, 0, 333), new SliceOptimizer(rule, roles, 333, 0),
            new SliceOptimizer(rule, roles, 333, 420), new SliceOptimizer(rule, roles, 753, N - 753));
        assertArrayEquals(whole, cut);
        for (int i = 500; i < 600; i++) {
            assertEquals(start[i], whole[i], "frozen parameter " + i);
        }
        assertNotEquals(start[0], whole[0]);
    }

    @Test
    void eachRoleDoesWhatItSays() {
        UpdateRule sgd = new UpdateRule(UpdateRule.Kind.SGD, t -> 0.1, 0, false, 0, 0, 1e-8, 0, 0, 0.5, 0.2,
            UpdateRule.Clip.VALUE, 1);
        SliceOptimizer s = new SliceOptimizer(sgd, mixed(), 0, N);
        float[] w = new float[N];
        java.util.Arrays.fill(w, 2f);
        s.load(w, null);
        float[] g = new float[N];
        java.util.Arrays.fill(g, 3f); // clipped to 1 by value
        s.apply(0, buffer(g, 0, N), 1);
        float[] p = params(s);
        // weight: w - lr * (g + l2 * w) - lr * wd * w = 2 - 0.1 * (1 + 1) - 0.1 * 0.2 * 2
        assertEquals(2 - 0.2f - 0.04f, p[0], 1e-6);
        assertEquals(2 - 0.1f, p[420], 1e-6, "bias: the rule, no penalty");
        assertEquals(2 - 1f, p[470], 1e-6, "assign: w - g");
        assertEquals(2f, p[550], "frozen");
    }

    @Test
    void adamsFirstStepIsTheRateTimesTheSign() {
        UpdateRule rule = new UpdateRule(UpdateRule.Kind.ADAM, t -> 0.01, 0, false, 0.9, 0.999, 1e-8, 0, 0, 0, 0,
            UpdateRule.Clip.NONE, 0);
        SliceOptimizer s = new SliceOptimizer(rule, ParamRoles.allWeights(4), 0, 4);
        s.load(new float[4], null);
        s.apply(0, buffer(new float[]{0.3f, -2f, 1e-2f, 0f}, 0, 4), 1);
        assertArrayEquals(new float[]{-0.01f, 0.01f, -0.01f, 0f}, new float[]{s.params().getFloat(0),
            s.params().getFloat(4), s.params().getFloat(8), s.params().getFloat(12)}, 1e-6f);
        assertEquals(0.1f * 0.3f, s.state().getFloat(0), 1e-7, "m");
        assertEquals(0.001f * 4f, s.state().getFloat((4 + 1) * Float.BYTES), 1e-7, "v");
    }

    @Test
    void freshStateIsDl4jsAndLengthsAreChecked() {
        UpdateRule rms = new UpdateRule(UpdateRule.Kind.RMSPROP, t -> 0.01, 0, false, 0, 0, 1e-8, 0.95, 0, 0, 0,
            UpdateRule.Clip.NONE, 0);
        SliceOptimizer s = new SliceOptimizer(rms, ParamRoles.allWeights(10), 2, 5);
        s.load(new float[10], null);
        assertEquals(1e-8f, s.state().getFloat(4 * Float.BYTES), "RmsPropUpdater starts its mean square at epsilon");
        assertEquals(0f, SliceOptimizer.initialState(adam(UpdateRule.Clip.NONE, 0)));
        assertThrows(IllegalArgumentException.class, () -> s.load(new float[9], null));
        String msg = assertThrows(IllegalArgumentException.class, () -> s.load(new float[10], new float[3])).getMessage();
        assertTrue(msg.contains("expected 10 (1 per parameter for RMSPROP)"), msg);
        assertThrows(IllegalArgumentException.class, () -> new SliceOptimizer(rms, ParamRoles.allWeights(10), 8, 5));
    }

    @Test
    void clipScaleIsTheReplicasFactor() {
        UpdateRule byNorm = adam(UpdateRule.Clip.NORM, 2);
        assertEquals(1.0, byNorm.clipScale(1.5));
        assertEquals(2 / (4 + UpdateRule.NORM_EPSILON), byNorm.clipScale(4));
        assertEquals(1.0, byNorm.clipScale(Double.NaN), "a non-finite gradient is left for the caller to stop on");
        assertEquals(1.0, adam(UpdateRule.Clip.VALUE, 2).clipScale(4));
    }
}
