package io.lockstep.ps.wire;

/**
 * IEEE 754 binary16 ("half") conversions, as Java 20's {@code Float.floatToFloat16} / {@code float16ToFloat}
 * (which Java 17 lacks): float to half rounds to nearest with ties to even, overflows to ±infinity from
 * 65520 (65504 plus half an ulp) up, keeps subnormal halves (down to 2^-24, below half of which it rounds to
 * ±0) and keeps NaN a NaN (quiet, the payload's top bits kept). Half to float is exact.
 */
public final class Fp16 {
    private static final int FLOAT_INF = 0x7F800000;
    private static final int HALF_INF = 0x7C00;
    /** 65520.0f: from here up a float rounds to the half infinity. */
    private static final int OVERFLOW = 0x477FF000;
    /** 2^-14, the smallest normal half. */
    private static final int MIN_NORMAL = 0x38800000;
    /** 2^-25, half the smallest subnormal half: up to here (the tie included: 0 is even) a float rounds to 0. */
    private static final int HALF_MIN_SUBNORMAL = 0x33000000;
    /** (127 - 15) << 23: float exponent bias minus half exponent bias, in place. */
    private static final int REBIAS = 112 << 23;

    private Fp16() {
    }

    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int abs = bits & 0x7FFFFFFF;
        if (abs >= OVERFLOW) {
            if (abs > FLOAT_INF) {
                return (short) (sign | HALF_INF | 0x0200 | ((abs >>> 13) & 0x03FF));
            }
            return (short) (sign | HALF_INF);
        }
        if (abs >= MIN_NORMAL) {
            int h = abs - REBIAS;
            h += 0x0FFF + ((h >>> 13) & 1); // round the 13 dropped bits to nearest even; a carry bumps the exponent
            return (short) (sign | (h >>> 13));
        }
        if (abs <= HALF_MIN_SUBNORMAL) {
            return (short) sign;
        }
        // a subnormal half: the value in units of 2^-24 is the 24-bit significand shifted right by 126 - exponent
        int significand = (abs & 0x007FFFFF) | 0x00800000;
        int shift = 126 - (abs >>> 23); // 14..24
        int result = significand >>> shift;
        int rest = significand & ((1 << shift) - 1);
        int half = 1 << (shift - 1);
        if (rest > half || (rest == half && (result & 1) != 0)) {
            result++; // may reach 0x400, the smallest normal half: the right encoding
        }
        return (short) (sign | result);
    }

    public static float toFloat(short half) {
        int h = half & 0xFFFF;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1F;
        int mantissa = h & 0x03FF;
        if (exponent == 0x1F) {
            return Float.intBitsToFloat(sign | FLOAT_INF | (mantissa << 13));
        }
        if (exponent != 0) {
            return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
        }
        float magnitude = mantissa * 0x1p-24f; // subnormal or zero: exact in float
        return sign != 0 ? -magnitude : magnitude;
    }
}
