package io.lockstep.driver.doctor;

import java.util.Locale;

/** Sizes as the report writes them. */
final class Bytes {
    static final long MIB = 1024 * 1024;

    private Bytes() {
    }

    /** "64 MiB", "1.5 GiB", "12 GiB". */
    static String format(long b) {
        if (b >= 10L * 1024 * MIB) {
            return String.format(Locale.ROOT, "%.0f GiB", b / (1024.0 * MIB));
        }
        if (b >= 1024 * MIB) {
            return String.format(Locale.ROOT, "%.1f GiB", b / (1024.0 * MIB));
        }
        return String.format(Locale.ROOT, "%d MiB", (b + MIB - 1) / MIB);
    }
}
