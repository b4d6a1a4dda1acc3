package io.lockstep.ps.wire;

import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The bulk 16-bit codec with error feedback: what is sent over many steps sums to the true gradients'
 * sum within one residual (half an ulp of the last value sent), where plain rounding drifts; non-finite
 * values are sent non-finite and do not poison the residual.
 */
public class HalfCodecTest {
    private static final int N = 2_000;

    private static UnsafeBuffer floats(int n) {
        return new UnsafeBuffer(BufferUtil.allocateDirectAligned(Math.max(1, n) * 4, 64));
    }

    /** Half an ulp of {@code v} in the format: the largest rounding error of a value near it. */
    public static double halfUlp(WireFormat format, double v) {
        double a = Math.abs(v);
        if (format == WireFormat.BF16) {
            return Math.scalb(1.0, Math.getExponent((float) Math.max(a, Float.MIN_NORMAL)) - 8);
        }
        return Math.scalb(1.0, Math.max(Math.getExponent((float) Math.max(a, 0x1p-14f)), -14) - 11);
    }

    @ParameterizedTest
    @EnumSource(value = WireFormat.class, names = {"BF16", "FP16"})
    void whatIsSentOverManyStepsTracksTheTrueSum(WireFormat format) {
        SplittableRandom random = new SplittableRandom(5);
        UnsafeBuffer gradient = floats(N);
        UnsafeBuffer residual = floats(N);
        UnsafeBuffer wire = new UnsafeBuffer(BufferUtil.allocateDirectAligned(N * 2, 64));
        UnsafeBuffer decoded = floats(N);
        double[] trueSum = new double[N];
        double[] sentSum = new double[N];
        double[] plainSum = new double[N]; // rounding each step without feedback
        double[] scale = new double[N];
        for (int i = 0; i < N; i++) {
            scale[i] = Math.pow(10, -1 - random.nextInt(6)); // 0.1 .. 1e-6: gradient-like, fp16 subnormals included
        }
        int steps = 600;
        for (int step = 0; step < steps; step++) {
            for (int i = 0; i < N; i++) {
                // a persistent bias plus noise: what plain rounding gets systematically wrong
                float g = (float) (scale[i] * (0.3 + 0.1 * random.nextGaussian()));
                gradient.putFloat(i * 4, g);
                trueSum[i] += g;
                plainSum[i] += format == WireFormat.BF16 ? Bf16.toFloat(Bf16.fromFloat(g)) : Fp16.toFloat(Fp16.fromFloat(g));
            }
            HalfCodec.encode(format, gradient, 0, residual, 0, wire, 0, N);
            HalfCodec.decode(format, wire, 0, decoded, 0, N);
            for (int i = 0; i < N; i++) {
                sentSum[i] += decoded.getFloat(i * 4);
                // bounded residual: at most half an ulp of the value it was left from (float arithmetic aside)
                double r = residual.getFloat(i * 4);
                double value = decoded.getFloat(i * 4) + r;
                assertTrue(Math.abs(r) <= halfUlp(format, value) * 1.0001, format + " residual " + r + " of " + value);
            }
        }
        double worstFeedback = 0;
        double worstPlain = 0;
        for (int i = 0; i < N; i++) {
            // sent + residual == true sum, up to the float additions of gradient and residual each step
            double tracked = Math.abs(sentSum[i] + residual.getFloat(i * 4) - trueSum[i]) / (scale[i] * steps);
            assertTrue(tracked < 1e-5, format + " value " + i + ": sum of sent + residual off by " + tracked);
            worstFeedback = Math.max(worstFeedback, Math.abs(sentSum[i] - trueSum[i]) / (scale[i] * steps));
            worstPlain = Math.max(worstPlain, Math.abs(plainSum[i] - trueSum[i]) / (scale[i] * steps));
        }
        assertTrue(worstFeedback < 1e-4, format + ": error feedback drifted by " + worstFeedback + " of the sum");
        assertTrue(worstPlain > 10 * worstFeedback, format + ": plain rounding " + worstPlain
            + " should drift far more than error feedback " + worstFeedback);
    }

    @ParameterizedTest
    @EnumSource(value = WireFormat.class, names = {"BF16", "FP16"})
    void nonFiniteValuesAreSentAsSuchAndDoNotPoisonTheResidual(WireFormat format) {
        UnsafeBuffer gradient = floats(4);
        UnsafeBuffer residual = floats(4);
        UnsafeBuffer wire = new UnsafeBuffer(new byte[8]);
        UnsafeBuffer decoded = floats(4);
        float[] bad = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
            format == WireFormat.FP16 ? 1e6f : Float.MAX_VALUE};
        for (int i = 0; i < 4; i++) {
            residual.putFloat(i * 4, 1e-3f);
            gradient.putFloat(i * 4, bad[i]);
        }
        HalfCodec.encode(format, gradient, 0, residual, 0, wire, 0, 4);
        HalfCodec.decode(format, wire, 0, decoded, 0, 4);
        assertTrue(Float.isNaN(decoded.getFloat(0)));
        assertEquals(Float.POSITIVE_INFINITY, decoded.getFloat(4));
        assertEquals(Float.NEGATIVE_INFINITY, decoded.getFloat(8));
        assertEquals(Float.POSITIVE_INFINITY, decoded.getFloat(12), "overflow to infinity");
        for (int i = 0; i < 4; i++) {
            assertEquals(0f, residual.getFloat(i * 4), "residual restarts after a non-finite value");
            gradient.putFloat(i * 4, 0.5f);
        }
        HalfCodec.encode(format, gradient, 0, residual, 0, wire, 0, 4);
        HalfCodec.decode(format, wire, 0, decoded, 0, 4);
        for (int i = 0; i < 4; i++) {
            assertEquals(0.5f, decoded.getFloat(i * 4), "the next step is clean");
        }
    }

    @ParameterizedTest
    @EnumSource(value = WireFormat.class, names = {"BF16", "FP16"})
    void accumulateAddsTheWeightedDecodedValues(WireFormat format) {
        SplittableRandom random = new SplittableRandom(9);
        int n = 777;
        UnsafeBuffer wire = new UnsafeBuffer(new byte[2 * n]);
        UnsafeBuffer sum = floats(n);
        UnsafeBuffer decoded = floats(n);
        for (int i = 0; i < n; i++) {
            wire.putShort(2 * i, (short) random.nextInt(0x7800)); // finite, positive
            sum.putFloat(4 * i, i);
        }
        HalfCodec.decode(format, wire, 0, decoded, 0, n);
        HalfCodec.accumulate(format, wire, 0, sum, 0, n, 3f);
        for (int i = 0; i < n; i++) {
            assertEquals(i + 3f * decoded.getFloat(4 * i), sum.getFloat(4 * i));
        }
    }

    @ParameterizedTest
    @EnumSource(value = WireFormat.class, names = {"BF16", "FP16"})
    void bulkEncodingSendsWhatTheScalarConversionGivesEvenAtTheEdges(WireFormat format) {
        SplittableRandom random = new SplittableRandom(21);
        int n = 1 << 18;
        UnsafeBuffer values = floats(n);
        UnsafeBuffer residual = floats(n);
        UnsafeBuffer wire = new UnsafeBuffer(BufferUtil.allocateDirectAligned(n * 2, 64));
        float[] edges = {0f, -0f, 0x1p-14f, Math.nextDown(0x1p-14f), 0x1p-25f, Math.nextUp(0x1p-25f), 65504f, 65519.99f,
            65520f, -65520f, Float.MAX_VALUE, Float.MIN_VALUE, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
        for (int i = 0; i < n; i++) {
            float v = i < edges.length ? edges[i] : i % 2 == 0 ? Float.intBitsToFloat(random.nextInt())
                : (float) (random.nextGaussian() * Math.pow(10, -random.nextInt(9)));
            values.putFloat(i * 4, v);
        }
        HalfCodec.encode(format, values, 0, residual, 0, wire, 0, n);
        for (int i = 0; i < n; i++) {
            float v = values.getFloat(i * 4) + 0f; // what is sent is value + residual: -0 + 0 is +0
            short want = format == WireFormat.BF16 ? Bf16.fromFloat(v) : Fp16.fromFloat(v);
            float back = format == WireFormat.BF16 ? Bf16.toFloat(want) : Fp16.toFloat(want);
            assertEquals(want, wire.getShort(i * 2), "value " + v);
            float r = residual.getFloat(i * 4);
            assertEquals(Float.isFinite(v) && Float.isFinite(back) ? v - back : 0f, r, "residual of " + v);
        }
    }
}
