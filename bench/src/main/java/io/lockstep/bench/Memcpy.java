package io.lockstep.bench;

import org.agrona.concurrent.UnsafeBuffer;

/** One off-heap copy of a vector's bytes into another ({@code Unsafe.copyMemory} via Agrona): the floor of any exchange. */
final class Memcpy {
    private Memcpy() {
    }

    /** Seconds per copy of {@code bytes}, one figure per measured repeat. */
    static double[] copySeconds(long bytes, int warmup, int repeats) {
        int n = Math.toIntExact(bytes);
        try (OffHeap srcMemory = new OffHeap(n); OffHeap dstMemory = new OffHeap(n)) {
            UnsafeBuffer src = srcMemory.buffer;
            UnsafeBuffer dst = dstMemory.buffer;
            src.setMemory(0, n, (byte) 7);
            dst.setMemory(0, n, (byte) 0); // touch every page before timing
            double[] seconds = new double[repeats];
            for (int r = 0; r < warmup + repeats; r++) {
                long start = System.nanoTime();
                dst.putBytes(0, src, 0, n);
                long end = System.nanoTime();
                if (r >= warmup) {
                    seconds[r - warmup] = (end - start) / 1e9;
                }
            }
            if (dst.getByte(n - 1) != 7) {
                throw new IllegalStateException("memcpy: the copy is incomplete");
            }
            return seconds;
        }
    }
}
