package io.lockstep.driver.output;

/**
 * Counts of non-negative values in fixed logarithmic buckets, for percentiles over a run of any
 * length in constant memory (30 KB) and without allocating per value: values below 64 have a bucket
 * each, above that each power of two is split into 64 buckets. A quantile is reported as its
 * bucket's midpoint, within 1/128 (0.8%) of every value the bucket holds; the mean and the maximum
 * are exact. (HdrHistogram does the same with more options; it is not on the classpath.)
 */
public final class LogHistogram {
    private static final int SUB_BITS = 6;
    private static final int SUB = 1 << SUB_BITS;

    private final long[] counts = new long[SUB + (63 - SUB_BITS) * SUB];
    private long total;
    private double sum;
    private long max;

    public void record(long value) {
        if (value < 0) {
            throw new IllegalArgumentException("negative value " + value);
        }
        counts[index(value)]++;
        total++;
        sum += value;
        max = Math.max(max, value);
    }

    static int index(long value) {
        if (value < SUB) {
            return (int) value;
        }
        int shift = 63 - Long.numberOfLeadingZeros(value) - SUB_BITS;
        return SUB + shift * SUB + (int) ((value >>> shift) - SUB);
    }

    /** The smallest value of bucket {@code index}. */
    static long lowest(int index) {
        if (index < SUB) {
            return index;
        }
        int shift = (index - SUB) / SUB;
        return (long) (SUB + (index - SUB) % SUB) << shift;
    }

    /** Values in bucket {@code index}. */
    static long width(int index) {
        return index < SUB ? 1 : 1L << ((index - SUB) / SUB);
    }

    public long count() {
        return total;
    }

    /** NaN when empty. */
    public double mean() {
        return total == 0 ? Double.NaN : sum / total;
    }

    public long max() {
        return max;
    }

    /**
     * The value at quantile {@code q} by nearest rank (the smallest value with at least q of all
     * values at or below it), to within the bucket's 0.8%; never above the maximum, and the maximum
     * itself for the top rank. NaN when empty.
     */
    public double quantile(double q) {
        if (!(q > 0 && q <= 1)) {
            throw new IllegalArgumentException("quantile must be in (0, 1], got " + q);
        }
        if (total == 0) {
            return Double.NaN;
        }
        long rank = (long) Math.ceil(q * total);
        if (rank >= total) {
            return max;
        }
        long seen = 0;
        for (int i = 0; i < counts.length; i++) {
            seen += counts[i];
            if (seen >= rank) {
                return Math.min(max, lowest(i) + (width(i) - 1) / 2.0);
            }
        }
        return max; // not reached: the counts add up to total
    }
}
