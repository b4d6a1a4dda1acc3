package io.lockstep.ps.optim;

import org.agrona.BufferUtil;
import org.agrona.UnsafeApi;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The optimizer of one parameter-server shard: owns the parameters {@code [start, start + length)} of the
 * flat vector and their optimizer state, off-heap, and turns the step's averaged gradient for that slice
 * into new parameters with the {@link UpdateRule}. The same code serves a single-worker job in the
 * worker's own process (one slice: the whole vector).
 *
 * <p>Arithmetic is float32 with float32 scalars, element by element in DL4J's order (libnd4j's
 * {@code adam_updater}, {@code rms_prop_updater}; {@code L1Regularization}, {@code L2Regularization},
 * {@code WeightDecay}), scalars rounded where DL4J rounds them, so a shard's parameters follow a replica's
 * DL4J updater bit for bit (the worker's ServerMirrorTest, generic x86-64 natives; a native build that fuses
 * multiply-adds may differ in the last bit).
 * Tight loops over the buffers; nothing is allocated per step.
 *
 * <p>State layout, "slot-major": slot {@code k} of element {@code i} at float index {@code k * length + i}
 * (Adam: m then v). Single-threaded, like the shard agent that owns it.
 */
public final class SliceOptimizer {
    private final UpdateRule rule;
    private final ParamRoles roles;
    private final int start;
    private final int length;
    private final int slots;
    private final UnsafeBuffer params;
    private final UnsafeBuffer state;
    private final int firstRange;
    private byte[] gArray;   // the gradient of the step being applied, as raw memory
    private long gAddress;
    private float decay; // this step's lr(t) * weightDecay

    public SliceOptimizer(UpdateRule rule, ParamRoles roles, int start, int length) {
        if (start < 0 || length < 0 || (long) start + length > roles.length()) {
            throw new IllegalArgumentException("slice " + start + "+" + length + " outside " + roles.length()
                + " parameters");
        }
        this.rule = rule;
        this.roles = roles;
        this.start = start;
        this.length = length;
        this.slots = rule.stateSlots();
        this.params = new UnsafeBuffer(BufferUtil.allocateDirectAligned(Math.max(1, length) * Float.BYTES, 64));
        this.state = new UnsafeBuffer(BufferUtil.allocateDirectAligned(Math.max(1, slots * length) * Float.BYTES, 64));
        this.firstRange = length == 0 ? 0 : roles.rangeOf(start);
    }

    /**
     * Takes this slice's parameters from the whole vector {@code all}, and its state from {@code allState}
     * (slot-major over the whole vector, {@code slots * all.length} floats; null or empty: zeros, a fresh start).
     */
    public void load(float[] all, float[] allState) {
        if (all.length != roles.length()) {
            throw new IllegalArgumentException("got " + all.length + " parameters, the model has " + roles.length());
        }
        int total = all.length;
        for (int i = 0; i < length; i++) {
            params.putFloat(i * Float.BYTES, all[start + i]);
        }
        boolean fresh = allState == null || allState.length == 0;
        if (!fresh && allState.length != (long) slots * total) {
            throw new IllegalArgumentException("optimizer state has " + allState.length + " values, expected "
                + (long) slots * total + " (" + slots + " per parameter for " + rule.kind() + ")");
        }
        float initial = initialState(rule);
        for (int k = 0; k < slots; k++) {
            for (int i = 0; i < length; i++) {
                state.putFloat((k * length + i) * Float.BYTES, fresh ? initial : allState[k * total + start + i]);
            }
        }
    }

    /**
     * The value a fresh start fills the state with, as DL4J initialises its updater state view: zeros, except
     * RMSProp's mean square, which {@code RmsPropUpdater.setStateViewArray} starts at epsilon (it matters: the
     * first steps divide by {@code sqrt(r) + eps}, and {@code r} is of the order of {@code (1 - decay) * g^2}).
     */
    public static float initialState(UpdateRule rule) {
        return rule.kind() == UpdateRule.Kind.RMSPROP ? (float) rule.epsilon() : 0f;
    }

    /** Sum of squares of the first {@code n} floats of {@code g}, in double, in a fixed order. */
    public static double sumOfSquares(DirectBuffer g, int n) {
        g.boundsCheck(0, n * Float.BYTES);
        byte[] array = g.byteArray();
        long address = g.addressOffset();
        // four running sums (one addition chain would wait on itself), added up in a fixed order
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        long end = (long) n * Float.BYTES;
        long o = 0;
        for (; o + 4 * Float.BYTES <= end; o += 4 * Float.BYTES) {
            double a = UnsafeApi.getFloat(array, address + o);
            double b = UnsafeApi.getFloat(array, address + o + 4);
            double c = UnsafeApi.getFloat(array, address + o + 8);
            double d = UnsafeApi.getFloat(array, address + o + 12);
            s0 += a * a;
            s1 += b * b;
            s2 += c * c;
            s3 += d * d;
        }
        for (; o < end; o += Float.BYTES) {
            double v = UnsafeApi.getFloat(array, address + o);
            s0 += v * v;
        }
        return (s0 + s1) + (s2 + s3);
    }

    /**
     * Applies global step {@code step}: the slice's averaged gradient in {@code g} (index 0 = {@link #start()}),
     * multiplied by {@code scale} (the global-norm clip factor, 1 if none) and, with value clipping, clamped,
     * becomes the new parameters. {@code g} is read only.
     */
    public void apply(long step, DirectBuffer g, double scale) {
        // bounds checked once here; the loops then read and write raw memory (a check per element costs more
        // than the arithmetic). params and state are this object's direct buffers.
        g.boundsCheck(0, length * Float.BYTES);
        gArray = g.byteArray();
        gAddress = g.addressOffset();
        double rate = rule.rate().rate(step);
        float lr = (float) rate;
        decay = (float) (rate * rule.weightDecay()); // DL4J's WeightDecay: lr * coeff in double, rounded once
        for (int r = firstRange, end = start + length; r < roles.ranges() && roles.start(r) < end; r++) {
            int from = Math.max(roles.start(r), start) - start;
            int to = Math.min(roles.end(r), end) - start;
            byte role = roles.role(r);
            if (role == ParamRoles.FROZEN) {
                continue;
            }
            if (role == ParamRoles.ASSIGN) {
                assign(g, from, to, scale);
                continue;
            }
            boolean weight = role == ParamRoles.WEIGHT;
            switch (rule.kind()) {
                case SGD -> sgd(g, from, to, scale, lr, weight);
                case MOMENTUM -> momentum(g, from, to, scale, lr, weight);
                case ADAM -> adam(g, from, to, scale, lr, weight, step);
                case RMSPROP -> rmsProp(g, from, to, scale, lr, weight);
            }
        }
    }

    /** The averaged (and clipped) gradient element; the clip comes first, as in the replica. */
    private float grad(DirectBuffer g, int i, double scale) {
        float v = UnsafeApi.getFloat(gArray, gAddress + (long) i * Float.BYTES);
        if (scale != 1.0) {
            v = (float) (v * scale);
        }
        if (rule.clip() == UpdateRule.Clip.VALUE) {
            float t = (float) rule.threshold();
            v = Math.max(-t, Math.min(t, v));
        }
        return v;
    }

    /** Coupled penalties, added to the gradient before the rule (DL4J's BEFORE_UPDATER regularization). */
    private float penalize(float v, float w) {
        if (rule.l1() > 0) {
            v += (float) rule.l1() * Math.signum(w);
        }
        if (rule.l2() > 0) {
            v += (float) rule.l2() * w;
        }
        return v;
    }

    /** Writes {@code w - step}, the step having decoupled weight decay ({@code lr(t) * wd * w}) added for weights. */
    private void descend(int i, float w, float step, float lr, boolean weight) {
        if (weight && decay != 0) {
            step += decay * w;
        }
        putParam(i * Float.BYTES, w - step);
    }

    private void assign(DirectBuffer g, int from, int to, double scale) {
        for (int i = from; i < to; i++) {
            putParam(i * Float.BYTES, param(i * Float.BYTES) - grad(g, i, scale));
        }
    }

    private void sgd(DirectBuffer g, int from, int to, double scale, float lr, boolean weight) {
        for (int i = from; i < to; i++) {
            float w = param(i * Float.BYTES);
            float v = grad(g, i, scale);
            if (weight) {
                v = penalize(v, w);
            }
            descend(i, w, v * lr, lr, weight);
        }
    }

    private void momentum(DirectBuffer g, int from, int to, double scale, float lr, boolean weight) {
        float mu = (float) rule.momentum();
        boolean nesterov = rule.nesterov();
        for (int i = from; i < to; i++) {
            int b = i * Float.BYTES;
            float w = param(b);
            float v = grad(g, i, scale);
            if (weight) {
                v = penalize(v, w);
            }
            float buf = state(b) * mu + v;
            putState(b, buf);
            float step = nesterov ? (mu * buf + v) * lr : buf * lr;
            descend(i, w, step, lr, weight);
        }
    }

    private void adam(DirectBuffer g, int from, int to, double scale, float lr, boolean weight, long step) {
        float beta1 = (float) rule.beta1();
        float beta2 = (float) rule.beta2();
        float eps = (float) rule.epsilon();
        float beta1T = (float) Math.pow(beta1, step + 1);
        float beta2T = (float) Math.pow(beta2, step + 1);
        // libnd4j: lr * sqrt<float>(1. - beta2T) in float, divided by (1.0 - beta1T) in double, rounded once
        float alpha = (float) ((lr * (float) Math.sqrt(1f - beta2T)) / (1.0 - beta1T));
        if (Float.isNaN(alpha) || alpha == 0 || Float.isInfinite(alpha)) {
            alpha = eps; // libnd4j's guard, kept for identical results
        }
        int vBase = length * Float.BYTES;
        for (int i = from; i < to; i++) {
            int b = i * Float.BYTES;
            float w = param(b);
            float v = grad(g, i, scale);
            if (weight) {
                v = penalize(v, w);
            }
            float m = beta1 * state(b) + v * (1 - beta1);
            float u = beta2 * state(vBase + b) + v * v * (1 - beta2);
            putState(b, m);
            putState(vBase + b, u);
            descend(i, w, m * alpha / ((float) Math.sqrt(u) + eps), lr, weight);
        }
    }

    private void rmsProp(DirectBuffer g, int from, int to, double scale, float lr, boolean weight) {
        float decay = (float) rule.rmsDecay();
        float eps = (float) rule.epsilon();
        for (int i = from; i < to; i++) {
            int b = i * Float.BYTES;
            float w = param(b);
            float v = grad(g, i, scale);
            if (weight) {
                v = penalize(v, w);
            }
            float r = state(b) * decay + v * v * (1 - decay);
            putState(b, r);
            descend(i, w, v * lr / ((float) Math.sqrt(r) + eps), lr, weight);
        }
    }

    private float param(int byteIndex) { return UnsafeApi.getFloat(null, params.addressOffset() + byteIndex); }
    private void putParam(int byteIndex, float v) { UnsafeApi.putFloat(null, params.addressOffset() + byteIndex, v); }
    private float state(int byteIndex) { return UnsafeApi.getFloat(null, state.addressOffset() + byteIndex); }
    private void putState(int byteIndex, float v) { UnsafeApi.putFloat(null, state.addressOffset() + byteIndex, v); }

    public UpdateRule rule() { return rule; }
    public int start() { return start; }
    public int length() { return length; }
    public int stateSlots() { return slots; }
    /** The slice's parameters, index 0 = {@link #start()}. */
    public UnsafeBuffer params() { return params; }
    /** The slice's optimizer state, slot-major ({@code k * length + i}). */
    public UnsafeBuffer state() { return state; }
}
