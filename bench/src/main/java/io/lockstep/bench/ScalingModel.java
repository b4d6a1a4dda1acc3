package io.lockstep.bench;

/**
 * Step time and scaling efficiency of synchronous data parallelism through a parameter server, from a
 * handful of measured rates. Assumptions (each one a parameter or stated here):
 * <ul>
 * <li>Every worker computes a batch of {@code batchPerWorker} samples in {@code batch × computeSecondsPerSample}
 *     (weak scaling: the per-worker batch stays, the global batch grows with the workers).</li>
 * <li>Every step, each worker sends its full gradient (4 bytes per parameter) once and receives the
 *     full average once; nothing is compressed.</li>
 * <li>A host moves bytes at {@code min(link bandwidth, hostBytesPerSecond)} in each direction at once
 *     (full duplex). {@code hostBytesPerSecond} is what the software manages per host (framing,
 *     authentication, copies), measured by {@code bench-exchange}.</li>
 * <li>Placement {@link Placement#DEDICATED}: the server is sharded over {@code serverHosts} hosts of their
 *     own; each takes in {@code workers × G / S} bytes and sends as many. Placement
 *     {@link Placement#COLOCATED}: one shard per worker host; each host sends its worker's gradient to the
 *     other {@code N − 1} shards and its shard's average to the other {@code N − 1} workers,
 *     {@code 2 G (N − 1) / N} bytes each way (the local part never leaves the host).</li>
 * <li>The busiest host sets the pace: exchange = {@code 2 × latency + busiest host's bytes / rate}.
 *     Frames are pipelined (a shard averages and returns each chunk as soon as every worker's copy
 *     is in), so the one-way latency is paid once up and once down, not once per frame.</li>
 * <li>Without overlap a step is compute + exchange (Lockstep today); with overlap (gradients sent while
 *     the backward pass still runs) it is the larger of the two.</li>
 * </ul>
 * Efficiency is compute / step: the share of a step that trains, which is also throughput over
 * that of N workers that never exchange.
 */
public record ScalingModel(double computeSecondsPerSample, int batchPerWorker, double hostBytesPerSecond,
                           double latencySeconds, Placement placement, int serverHosts, boolean overlap) {

    public enum Placement { DEDICATED, COLOCATED }

    public ScalingModel {
        if (!(computeSecondsPerSample >= 0) || batchPerWorker < 1 || !(hostBytesPerSecond > 0)
            || !(latencySeconds >= 0) || serverHosts < 1) {
            throw new IllegalArgumentException("scaling model needs compute >= 0, batch >= 1, host rate > 0, "
                + "latency >= 0 and server hosts >= 1");
        }
    }

    public double computeSeconds() {
        return computeSecondsPerSample * batchPerWorker;
    }

    /** Bytes the busiest host sends (and receives) per step. */
    public double busiestHostBytes(long params, int workers) {
        double gradient = params * (double) Float.BYTES;
        return switch (placement) {
            case DEDICATED -> Math.max(gradient, workers * gradient / serverHosts);
            case COLOCATED -> 2 * gradient * (workers - 1) / workers;
        };
    }

    /** Seconds of one exchange; 0 when nothing crosses a link (one worker beside its own shards). */
    public double exchangeSeconds(long params, int workers, double linkBytesPerSecond) {
        double bytes = busiestHostBytes(params, workers);
        if (bytes == 0) {
            return 0;
        }
        return 2 * latencySeconds + bytes / Math.min(linkBytesPerSecond, hostBytesPerSecond);
    }

    public double stepSeconds(long params, int workers, double linkBytesPerSecond) {
        double compute = computeSeconds();
        double exchange = exchangeSeconds(params, workers, linkBytesPerSecond);
        return overlap ? Math.max(compute, exchange) : compute + exchange;
    }

    /** compute / step, in [0, 1]. */
    public double efficiency(long params, int workers, double linkBytesPerSecond) {
        double step = stepSeconds(params, workers, linkBytesPerSecond);
        return step == 0 ? 1 : computeSeconds() / step;
    }

    public double samplesPerSecond(long params, int workers, double linkBytesPerSecond) {
        return workers * (double) batchPerWorker / stepSeconds(params, workers, linkBytesPerSecond);
    }

    /** Bytes per second of a link of {@code gbits} Gbit/s. */
    public static double gbit(double gbits) {
        return gbits * 1e9 / 8;
    }

    /**
     * One-host fit of measured exchanges: {@code seconds = 2 × latency + bytes / rate} by least squares,
     * where {@code bytes} is what the host moves each way per exchange (N clients × the vector on one
     * machine). Returns {latency seconds, rate bytes/s}.
     */
    public static double[] fitLatencyAndRate(double[] bytes, double[] seconds) {
        int n = bytes.length;
        if (n < 2 || seconds.length != n) {
            throw new IllegalArgumentException("fit needs at least 2 (bytes, seconds) pairs of equal count");
        }
        double mx = 0;
        double my = 0;
        for (int i = 0; i < n; i++) {
            mx += bytes[i] / n;
            my += seconds[i] / n;
        }
        double sxy = 0;
        double sxx = 0;
        for (int i = 0; i < n; i++) {
            sxy += (bytes[i] - mx) * (seconds[i] - my);
            sxx += (bytes[i] - mx) * (bytes[i] - mx);
        }
        if (sxx == 0 || sxy <= 0) {
            throw new IllegalArgumentException("exchange times do not grow with bytes: no rate to fit");
        }
        double slope = sxy / sxx;
        double intercept = Math.max(0, my - slope * mx);
        return new double[]{intercept / 2, 1 / slope};
    }
}
