package io.lockstep.driver.output;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Fixed log buckets: every value lands in the bucket that spans it; quantiles within 0.8% of the exact ones. */
class LogHistogramTest {

    @Test
    void everyValueFallsInsideItsBucketAndBucketsTileTheLine() {
        long[] probes = {0, 1, 63, 64, 65, 127, 128, 129, 1000, 4095, 4096, 123_456_789L, Long.MAX_VALUE};
        for (long v : probes) {
            int i = LogHistogram.index(v);
            long low = LogHistogram.lowest(i);
            assertTrue(low <= v && v - low < LogHistogram.width(i), v + " in bucket " + i + " from " + low);
            assertTrue(LogHistogram.width(i) <= Math.max(1, low / 64), "width at most 1/64 of the bucket's start");
        }
        for (int i = 1; i < LogHistogram.index(Long.MAX_VALUE); i++) {
            assertEquals(LogHistogram.lowest(i - 1) + LogHistogram.width(i - 1), LogHistogram.lowest(i), "gap at " + i);
        }
    }

    @Test
    void quantilesOfSkewedDataAreWithinTheStatedErrorOfTheExactOnes() {
        Random random = new Random(7);
        for (int n : new int[]{1, 7, 100, 10_001}) {
            long[] values = new long[n];
            LogHistogram h = new LogHistogram();
            for (int i = 0; i < n; i++) {
                values[i] = (long) Math.exp(random.nextGaussian() * 2 + 8); // microseconds, a long right tail
                h.record(values[i]);
            }
            Arrays.sort(values);
            for (double q : new double[]{0.01, 0.5, 0.9, 0.99, 1.0}) {
                long exact = values[(int) Math.ceil(q * n) - 1];
                double reported = h.quantile(q);
                assertEquals(exact, reported, Math.max(0.5, exact / 128.0), "q" + q + " of " + n);
            }
            assertEquals(values[n - 1], h.max());
            assertEquals(values[n - 1], h.quantile(1.0), 0.0, "the maximum is exact");
            assertEquals(Arrays.stream(values).average().orElseThrow(), h.mean(), 1e-6);
            assertEquals(n, h.count());
        }
    }

    @Test
    void emptyAndBadInputs() {
        LogHistogram h = new LogHistogram();
        assertTrue(Double.isNaN(h.quantile(0.99)));
        assertTrue(Double.isNaN(h.mean()));
        assertThrows(IllegalArgumentException.class, () -> h.record(-1));
        assertThrows(IllegalArgumentException.class, () -> h.quantile(0));
        assertThrows(IllegalArgumentException.class, () -> h.quantile(1.5));
    }
}
