package io.lockstep.ps.wire;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link Fp16} against a reference built from first principles: every half's value computed in double
 * arithmetic, and float-to-half as "the nearest of the sorted finite halves, ties to the even pattern,
 * infinity from 65520 up". Every half, every midpoint between neighbouring halves and the floats either
 * side of it, and millions of floats spread over every exponent. (The conversion was also compared with
 * JDK 20+'s {@code Float.floatToFloat16} on all 2^32 floats: no difference, NaN payloads included.)
 */
class Fp16Test {
    /** Values of the halves 0x0000..0x7BFF (all non-negative finite ones), increasing with the pattern. */
    private static final double[] FINITE = new double[0x7C00];

    static {
        for (int h = 0; h < FINITE.length; h++) {
            FINITE[h] = referenceValue(h);
        }
    }

    static double referenceValue(int h) {
        int exponent = (h >>> 10) & 0x1F;
        int mantissa = h & 0x3FF;
        double magnitude = exponent == 0 ? Math.scalb((double) mantissa, -24)
            : Math.scalb((double) (1024 + mantissa), exponent - 25);
        return (h & 0x8000) != 0 ? -magnitude : magnitude;
    }

    static int referenceFromFloat(float f) {
        int sign = f < 0 || (f == 0 && 1 / f < 0) ? 0x8000 : 0;
        double x = Math.abs((double) f);
        if (x >= 65520) {
            return sign | 0x7C00;
        }
        int lo = 0;
        int hi = FINITE.length - 1;
        while (hi - lo > 1) { // FINITE[lo] <= x < FINITE[hi] unless x is the largest half
            int mid = (lo + hi) >>> 1;
            if (FINITE[mid] <= x) lo = mid; else hi = mid;
        }
        if (FINITE[hi] <= x) {
            return sign | hi;
        }
        double below = x - FINITE[lo];
        double above = FINITE[hi] - x;
        int nearest = below < above ? lo : above < below ? hi : (lo % 2 == 0 ? lo : hi);
        return sign | nearest;
    }

    private static void assertConverts(float f) {
        assertEquals(referenceFromFloat(f), Fp16.fromFloat(f) & 0xFFFF,
            () -> "float " + f + " (0x" + Integer.toHexString(Float.floatToRawIntBits(f)) + ")");
    }

    @Test
    void everyHalfWidensExactlyAndRoundTrips() {
        for (int h = 0; h < 0x10000; h++) {
            float f = Fp16.toFloat((short) h);
            int exponent = (h >>> 10) & 0x1F;
            if (exponent == 0x1F) {
                assertEquals((h & 0x3FF) != 0, Float.isNaN(f), "half 0x" + Integer.toHexString(h));
                if ((h & 0x3FF) == 0) {
                    assertEquals((h & 0x8000) != 0 ? Float.NEGATIVE_INFINITY : Float.POSITIVE_INFINITY, f);
                }
                continue;
            }
            assertEquals(referenceValue(h), f, 0.0, "half 0x" + Integer.toHexString(h));
            assertEquals(h, Fp16.fromFloat(f) & 0xFFFF, "round trip of half 0x" + Integer.toHexString(h));
        }
    }

    @Test
    void midpointsBetweenNeighbouringHalvesRoundToEvenAndTheirNeighboursToTheNearer() {
        for (int h = 0; h < 0x7BFF; h++) {
            double mid = (FINITE[h] + FINITE[h + 1]) / 2;
            float m = (float) mid;
            assertEquals(mid, m, 0.0, "a midpoint of halves is a float");
            for (float f : new float[]{m, Math.nextDown(m), Math.nextUp(m)}) {
                assertConverts(f);
                assertConverts(-f);
            }
            assertEquals(h % 2 == 0 ? h : h + 1, Fp16.fromFloat(m) & 0xFFFF, "tie at " + m);
        }
        float top = 65520f; // 65504 plus half an ulp: the tie rounds to the even pattern 0x7C00, infinity
        assertEquals(0x7C00, Fp16.fromFloat(top) & 0xFFFF);
        assertEquals(0x7BFF, Fp16.fromFloat(Math.nextDown(top)) & 0xFFFF);
        assertEquals(0x0000, Fp16.fromFloat(0x1p-25f) & 0xFFFF, "half the smallest subnormal: tie to 0");
        assertEquals(0x0001, Fp16.fromFloat(Math.nextUp(0x1p-25f)) & 0xFFFF);
    }

    @Test
    void millionsOfFloatsOverEveryExponentMatchTheReference() {
        SplittableRandom random = new SplittableRandom(16);
        for (int i = 0; i < 2_000_000; i++) {
            float f = Float.intBitsToFloat(random.nextInt());
            if (!Float.isNaN(f)) {
                assertConverts(f);
            }
        }
        for (long bits = 0; bits <= 0xFFFFFFFFL; bits += 4099) { // every exponent, sign and mantissa region
            float f = Float.intBitsToFloat((int) bits);
            if (!Float.isNaN(f)) {
                assertConverts(f);
            }
        }
        for (int i = 0; i < 1_000_000; i++) { // gradient-like magnitudes, densely
            assertConverts((float) (random.nextGaussian() * Math.pow(10, -random.nextInt(10))));
        }
    }

    @Test
    void nonFiniteValuesStayNonFinite() {
        assertEquals(0x7C00, Fp16.fromFloat(Float.POSITIVE_INFINITY) & 0xFFFF);
        assertEquals(0xFC00, Fp16.fromFloat(Float.NEGATIVE_INFINITY) & 0xFFFF);
        assertEquals(0x7C00, Fp16.fromFloat(Float.MAX_VALUE) & 0xFFFF, "overflow");
        assertEquals(0xFC00, Fp16.fromFloat(-1e6f) & 0xFFFF, "overflow");
        SplittableRandom random = new SplittableRandom(7);
        for (int i = 0; i < 100_000; i++) {
            int nan = (random.nextBoolean() ? 0xFF800000 : 0x7F800000) | (1 + random.nextInt(0x7FFFFF));
            assertTrue(Float.isNaN(Fp16.toFloat(Fp16.fromFloat(Float.intBitsToFloat(nan)))),
                "NaN 0x" + Integer.toHexString(nan));
        }
        assertEquals(0x8000, Fp16.fromFloat(-0f) & 0xFFFF);
        assertEquals(0x8000, Fp16.fromFloat(-1e-30f) & 0xFFFF);
    }
}
