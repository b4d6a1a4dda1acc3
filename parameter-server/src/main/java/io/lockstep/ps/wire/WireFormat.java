package io.lockstep.ps.wire;

import java.util.Locale;

/**
 * How gradient values travel ({@code ps.wire}): float32 as they are, or 16 bits each — bfloat16 (the float's
 * top half, rounded to nearest even: float32's range, 8 significant bits) or IEEE half (fp16: 11 significant
 * bits, finite up to 65504, subnormals down to 2^-24). The 16-bit formats halve the bytes of worker
 * gradients and, with the optimizer on the workers, of the shards' averages; the rounding error is carried
 * into the next step by the sender ({@link HalfCodec#encode error feedback}), so nothing is lost over steps,
 * only delayed. Parameters and optimizer state always travel as float32.
 *
 * <p>The format is in every gradient frame ({@link GradientFrame#ENCODING_OFFSET}); a frame of another
 * format than its job's is malformed.
 */
public enum WireFormat {
    FP32(0, Float.BYTES),
    BF16(1, 2),
    FP16(2, 2);

    private final int code;
    private final int bytesPerValue;

    WireFormat(int code, int bytesPerValue) {
        this.code = code;
        this.bytesPerValue = bytesPerValue;
    }

    /** The value of a frame's encoding field. */
    public int code() { return code; }

    public int bytesPerValue() { return bytesPerValue; }

    /** True for the 16-bit formats, which round and so need error feedback. */
    public boolean rounds() { return this != FP32; }

    /** The format of an encoding field, or null for one this version does not know (no allocation). */
    static WireFormat ofCode(int code) {
        return switch (code) {
            case 0 -> FP32;
            case 1 -> BF16;
            case 2 -> FP16;
            default -> null;
        };
    }

    /** {@code fp32}, {@code bf16} or {@code fp16} (any case), as {@code ps.wire} names them; the caller names the key. */
    public static WireFormat parse(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "fp32" -> FP32;
            case "bf16" -> BF16;
            case "fp16" -> FP16;
            default -> throw new IllegalArgumentException("must be one of fp32, bf16, fp16, got '" + name + "'");
        };
    }

    /** The name {@link #parse} takes. */
    public String configName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
