package io.lockstep.ps.wire;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link Bf16} against a reference that picks, in double arithmetic, the nearer of the two bfloat16
 * values around a float (ties to the even pattern; the pattern past the largest finite one counts as
 * 2^128, as IEEE overflow rounding does).
 */
class Bf16Test {

    static double valueOf(int pattern) {
        int abs = pattern & 0x7FFF;
        double magnitude = abs == 0x7F80 ? Math.scalb(1.0, 128) : Float.intBitsToFloat(abs << 16);
        return (pattern & 0x8000) != 0 ? -magnitude : magnitude;
    }

    static int reference(float f) {
        int bits = Float.floatToRawIntBits(f);
        int toward = bits >>> 16;                 // truncated: toward zero
        if ((bits & 0xFFFF) == 0) {
            return toward;
        }
        int away = toward + 1;                    // next magnitude, the same sign
        double below = Math.abs(f - valueOf(toward));
        double above = Math.abs(valueOf(away) - f);
        return below < above ? toward : above < below ? away : (toward % 2 == 0 ? toward : away);
    }

    private static void assertConverts(float f) {
        assertEquals(reference(f), Bf16.fromFloat(f) & 0xFFFF,
            () -> "float " + f + " (0x" + Integer.toHexString(Float.floatToRawIntBits(f)) + ")");
    }

    @Test
    void roundsToNearestEvenLikeTheReference() {
        SplittableRandom random = new SplittableRandom(16);
        for (int i = 0; i < 2_000_000; i++) {
            float f = Float.intBitsToFloat(random.nextInt());
            if (!Float.isNaN(f) && !Float.isInfinite(f)) {
                assertConverts(f);
            }
        }
        for (long bits = 0; bits <= 0xFFFFFFFFL; bits += 4099) {
            float f = Float.intBitsToFloat((int) bits);
            if (!Float.isNaN(f) && !Float.isInfinite(f)) {
                assertConverts(f);
            }
        }
        for (int high = 0; high < 0x7F80; high += 0x0101) { // every low half of some bfloat16s: ties included
            for (int low = 0; low < 0x10000; low++) {
                assertConverts(Float.intBitsToFloat(high << 16 | low));
                assertConverts(-Float.intBitsToFloat(high << 16 | low));
            }
        }
    }

    @Test
    void widensExactlyAndRoundTripsEveryPattern() {
        for (int b = 0; b < 0x10000; b++) {
            float f = Bf16.toFloat((short) b);
            assertEquals(b << 16, Float.floatToRawIntBits(f));
            if (!Float.isNaN(f)) {
                assertEquals(b, Bf16.fromFloat(f) & 0xFFFF);
            }
        }
    }

    @Test
    void nonFiniteValuesStayNonFinite() {
        assertEquals(Float.POSITIVE_INFINITY, Bf16.toFloat(Bf16.fromFloat(Float.POSITIVE_INFINITY)));
        assertEquals(Float.NEGATIVE_INFINITY, Bf16.toFloat(Bf16.fromFloat(Float.NEGATIVE_INFINITY)));
        assertEquals(Float.POSITIVE_INFINITY, Bf16.toFloat(Bf16.fromFloat(Float.MAX_VALUE)), "overflow");
        SplittableRandom random = new SplittableRandom(7);
        for (int i = 0; i < 100_000; i++) {
            // NaNs whose payload sits in the low bits only, or would round up into the exponent
            int nan = (random.nextBoolean() ? 0xFF800000 : 0x7F800000) | (1 + random.nextInt(0x7FFFFF));
            assertTrue(Float.isNaN(Bf16.toFloat(Bf16.fromFloat(Float.intBitsToFloat(nan)))),
                "NaN 0x" + Integer.toHexString(nan));
        }
        assertTrue(Float.isNaN(Bf16.toFloat(Bf16.fromFloat(Float.intBitsToFloat(0x7F800001)))));
        assertTrue(Float.isNaN(Bf16.toFloat(Bf16.fromFloat(Float.intBitsToFloat(0x7FFFFFFF)))));
    }
}
