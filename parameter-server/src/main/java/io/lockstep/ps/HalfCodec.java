package io.lockstep.ps;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

/**
 * Bulk conversions between float32 vectors and the 16-bit {@link WireFormat}s, over Agrona buffers in
 * native (little-endian) order, with no allocation. One loop per format, chosen once per call.
 *
 * <p><b>Error feedback.</b> A sender keeps, per value, the rounding residual of what it sent last and adds
 * it to the next value before rounding ({@link #encode}): the sum of what was sent over many steps then
 * tracks the sum of the true values to within one residual (half an ulp of the last value), instead of
 * drifting by every step's rounding. A non-finite value (or one fp16 overflows to infinity) is sent as it
 * rounds — NaN stays NaN, infinity infinity, so the receivers' finiteness checks see it — and its residual
 * restarts at 0, so one bad step does not poison the steps after it.
 */
final class HalfCodec {
    private static final int F = Float.BYTES;
    private static final int H = 2;

    private HalfCodec() {
    }

    /**
     * Writes {@code n} values {@code src[i] + residual[i]} rounded to {@code format} at {@code dst} (2 bytes
     * each) and leaves in {@code residual[i]} what the rounding dropped. Indexes are byte offsets.
     */
    static void encode(WireFormat format, DirectBuffer src, int srcIndex, MutableDirectBuffer residual,
                       int residualIndex, MutableDirectBuffer dst, int dstIndex, int n) {
        if (format == WireFormat.BF16) {
            for (int i = 0; i < n; i++) {
                float value = src.getFloat(srcIndex + i * F) + residual.getFloat(residualIndex + i * F);
                short sent = Bf16.fromFloat(value);
                residual.putFloat(residualIndex + i * F, residue(value, Bf16.toFloat(sent)));
                dst.putShort(dstIndex + i * H, sent);
            }
        } else if (format == WireFormat.FP16) {
            for (int i = 0; i < n; i++) {
                float value = src.getFloat(srcIndex + i * F) + residual.getFloat(residualIndex + i * F);
                short sent = Fp16.fromFloat(value);
                residual.putFloat(residualIndex + i * F, residue(value, Fp16.toFloat(sent)));
                dst.putShort(dstIndex + i * H, sent);
            }
        } else {
            throw new IllegalArgumentException("not a 16-bit format: " + format);
        }
    }

    /** What rounding {@code value} to {@code sent} dropped (exact in float), or 0 when either is not finite. */
    private static float residue(float value, float sent) {
        float residue = value - sent;
        return residue - residue == 0f ? residue : 0f; // NaN and ±inf fail x - x == 0
    }

    /** Writes the {@code n} 16-bit values at {@code src} as floats at {@code dst}. */
    static void decode(WireFormat format, DirectBuffer src, int srcIndex, MutableDirectBuffer dst, int dstIndex, int n) {
        if (format == WireFormat.BF16) {
            for (int i = 0; i < n; i++) {
                dst.putFloat(dstIndex + i * F, Bf16.toFloat(src.getShort(srcIndex + i * H)));
            }
        } else if (format == WireFormat.FP16) {
            for (int i = 0; i < n; i++) {
                dst.putFloat(dstIndex + i * F, Fp16.toFloat(src.getShort(srcIndex + i * H)));
            }
        } else {
            throw new IllegalArgumentException("not a 16-bit format: " + format);
        }
    }

    /** Adds {@code weight} times each of the {@code n} 16-bit values at {@code src} to the floats at {@code sum}. */
    static void accumulate(WireFormat format, DirectBuffer src, int srcIndex, MutableDirectBuffer sum, int sumIndex,
                           int n, float weight) {
        if (format == WireFormat.BF16) {
            for (int i = 0; i < n; i++) {
                int o = sumIndex + i * F;
                sum.putFloat(o, sum.getFloat(o) + weight * Bf16.toFloat(src.getShort(srcIndex + i * H)));
            }
        } else if (format == WireFormat.FP16) {
            for (int i = 0; i < n; i++) {
                int o = sumIndex + i * F;
                sum.putFloat(o, sum.getFloat(o) + weight * Fp16.toFloat(src.getShort(srcIndex + i * H)));
            }
        } else {
            throw new IllegalArgumentException("not a 16-bit format: " + format);
        }
    }
}
