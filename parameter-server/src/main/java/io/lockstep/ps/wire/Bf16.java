package io.lockstep.ps.wire;

/**
 * bfloat16: the upper 16 bits of a float32, rounded to nearest with ties to even from the float's bits.
 * Infinities stay infinite, NaN stays NaN (made quiet, so rounding can never turn it into an infinity),
 * and a finite float past the largest bfloat16 plus half an ulp rounds to infinity, as IEEE rounding does.
 */
public final class Bf16 {
    private Bf16() {
    }

    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        int rounded = (bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16;
        int quietNaN = (bits >>> 16) | 0x0040;
        return (short) ((bits & 0x7FFFFFFF) > 0x7F800000 ? quietNaN : rounded); // a select, no branch in the loop
    }

    public static float toFloat(short b) {
        return Float.intBitsToFloat((b & 0xFFFF) << 16);
    }
}
