package io.lockstep.worker.optim;

/** Number formatting for config error messages: {@code -1} rather than {@code -1.0}, so the message echoes the YAML. */
final class Num {
    private Num() {
    }

    static String str(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return Double.toString(v);
    }
}
