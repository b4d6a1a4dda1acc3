package io.lockstep.bench;

import io.lockstep.ps.ExchangeSpec;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/** Parsing and summarising for the benchmark commands: counts like "25M", lists, medians. */
final class BenchArgs {
    private BenchArgs() {
    }

    /** "235146", "10k", "1M", "25m" (k = 1e3, M = 1e6, decimal as in "1M floats"); {@code option} names the flag in errors. */
    static long count(String text, String option) {
        String t = text.trim();
        long unit = 1;
        char last = t.isEmpty() ? ' ' : Character.toLowerCase(t.charAt(t.length() - 1));
        if (last == 'k' || last == 'm') {
            unit = last == 'k' ? 1_000 : 1_000_000;
            t = t.substring(0, t.length() - 1);
        }
        try {
            double value = Double.parseDouble(t) * unit;
            if (value < 1 || value > Integer.MAX_VALUE / Float.BYTES) {
                throw new IllegalArgumentException(option + ": " + text + " is out of range (1 to "
                    + Integer.MAX_VALUE / Float.BYTES + ")");
            }
            return Math.round(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + ": '" + text + "' is not a count (e.g. 235146, 10k, 25M)");
        }
    }

    static List<Integer> counts(String list, String option) {
        List<Integer> out = new ArrayList<>();
        for (String part : list.split(",")) {
            out.add(Math.toIntExact(count(part, option)));
        }
        return out;
    }

    static List<ExchangeSpec.Transport> transports(String list, String option) {
        List<ExchangeSpec.Transport> out = new ArrayList<>();
        for (String part : list.split(",")) {
            try {
                out.add(ExchangeSpec.Transport.valueOf(part.trim().toUpperCase(Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(option + ": '" + part.trim() + "' is not a transport (ipc or udp)");
            }
        }
        return out;
    }

    static double median(double[] values) {
        if (values.length == 0) {
            throw new IllegalArgumentException("median of nothing");
        }
        double[] v = values.clone();
        Arrays.sort(v);
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    /** "25M", "1M", "235,146": how the tables name a vector size. */
    static String floats(long n) {
        return n % 1_000_000 == 0 ? n / 1_000_000 + "M" : String.format(Locale.ROOT, "%,d", n);
    }
}
