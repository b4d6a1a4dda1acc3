package io.lockstep.ps.server;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.HalfCodec;
import io.lockstep.ps.wire.JobSecret;
import io.lockstep.ps.wire.WireFormat;
import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static io.lockstep.ps.server.AuthCostBench.median;
import static io.lockstep.ps.server.AuthCostBench.quantile;

/**
 * What a 16-bit wire saves per step, for the MNIST MLP's gradient (235,146 floats): two jobs in this
 * process, float32 and {@code -Dlockstep.bench.wire} (bf16 unless set), 2 workers and 2 shards over UDP
 * with the optimizer on the workers (gradients up and averages down both 16-bit), stepping in interleaved
 * rounds (ABBA); medians of rank 0's time per exchange, the bytes a step puts on the wire, the cost of
 * rounding one step on one thread, and the bytes rank 0's thread allocates per exchange in steady state; then,
 * per format, the bytes every thread of the exchange path allocates per step, sealed and in the clear
 * ({@link JobSecret#plaintextForBenchmarks()}: what is left is ours, not the JDK's GCM).
 * A program that prints figures; run it with
 * {@code ./mvnw -q -B -o -pl parameter-server test -Dtest=WireBench -Dlockstep.bench=true}.
 */
public class WireBench {
    static final int N = AuthCostBench.N;
    static final int WORKERS = 2;
    static final int ROUNDS = Integer.getInteger("lockstep.bench.rounds", 12);
    static final int STEPS = 40;

    @Test
    @EnabledIfSystemProperty(named = "lockstep.bench", matches = "true")
    void run() throws Exception {
        main(new String[0]);
    }

    public static void main(String[] args) throws Exception {
        WireFormat wire = WireFormat.parse(System.getProperty("lockstep.bench.wire", "bf16"));
        System.out.printf(Locale.ROOT, "%s, %d cores, load %.1f%n", System.getProperty("java.vm.version"),
            Runtime.getRuntime().availableProcessors(), ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        ShardLayout layout = new ShardLayout(N, 2, ExchangeSpec.chunkValuesFor(ExchangeSpec.DEFAULT_MTU));
        for (WireFormat f : new WireFormat[]{WireFormat.FP32, wire}) {
            long up = 0;
            for (int s = 0; s < layout.shards(); s++) {
                for (int c = 0; c < layout.chunkCount(s); c++) {
                    up += GradientFrame.frameLength(layout.chunkLength(s, c), f) + ExchangeSpec.AERON_HEADER;
                }
            }
            System.out.printf(Locale.ROOT, "%s: %d frames, %d bytes per worker per step each way (with Aeron headers)%n",
                f.configName(), layout.totalChunks(), up);
        }
        codec(wire);
        if (!Boolean.getBoolean("lockstep.bench.codecOnly")) {
            exchange(wire);
            for (WireFormat f : new WireFormat[]{WireFormat.FP32, wire}) {
                allocation(f, true);
                allocation(f, false);
            }
        }
    }

    /** Rounding one step's gradient with error feedback, and widening it back, on one thread. */
    static void codec(WireFormat wire) {
        UnsafeBuffer vec = new UnsafeBuffer(BufferUtil.allocateDirectAligned(N * 4, 64));
        UnsafeBuffer residual = new UnsafeBuffer(BufferUtil.allocateDirectAligned(N * 4, 64));
        UnsafeBuffer half = new UnsafeBuffer(BufferUtil.allocateDirectAligned(N * 2, 64));
        for (int i = 0; i < N; i++) {
            vec.putFloat(i * 4, (float) Math.sin(i) * 1e-3f);
        }
        List<Double> encode = new ArrayList<>();
        List<Double> decode = new ArrayList<>();
        for (int round = 0; round < 400; round++) {
            long t0 = System.nanoTime();
            HalfCodec.encode(wire, vec, 0, residual, 0, half, 0, N);
            long t1 = System.nanoTime();
            HalfCodec.decode(wire, half, 0, vec, 0, N);
            long t2 = System.nanoTime();
            if (round >= 100) {
                encode.add((t1 - t0) / 1e3);
                decode.add((t2 - t1) / 1e3);
            }
        }
        System.out.printf(Locale.ROOT, "%s on one thread, one step (%d values), medians: round with error feedback %.0f us,"
            + " widen %.0f us%n", wire.configName(), N, median(encode), median(decode));
    }

    /** Rank 0's microseconds per exchange, float32 against {@code wire}, interleaved. */
    static void exchange(WireFormat wire) throws Exception {
        ShardLayout layout = new ShardLayout(N, 2, ExchangeSpec.chunkValuesFor(ExchangeSpec.DEFAULT_MTU));
        ExchangeSpec fp32 = ExchangeSpec.builder(ThreadLocalRandom.current().nextLong(), layout, WORKERS)
            .transport(ExchangeSpec.Transport.UDP).timeoutMillis(60_000).build();
        ExchangeSpec half = ExchangeSpec.builder(ThreadLocalRandom.current().nextLong(), layout, WORKERS)
            .transport(ExchangeSpec.Transport.UDP).timeoutMillis(60_000).build()
            .withWire(wire);
        List<Double> fp32Us = new ArrayList<>();
        List<Double> halfUs = new ArrayList<>();
        long[] allocated = new long[2];
        long[] measured = new long[2];
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        ExecutorService pool = Executors.newFixedThreadPool(2 * WORKERS);
        try (EmbeddedAeron serverAeron = EmbeddedAeron.forServer(fp32);
             EmbeddedAeron workerAeron = EmbeddedAeron.forWorkers(fp32);
             ParameterServer a = ParameterServer.start(serverAeron.aeron(), fp32, StepListener.NONE);
             ParameterServer b = ParameterServer.start(serverAeron.aeron(), half, StepListener.NONE)) {
            CyclicBarrier barrier = new CyclicBarrier(2 * WORKERS);
            List<Future<?>> futures = new ArrayList<>();
            for (int job = 0; job < 2; job++) {
                ExchangeSpec spec = job == 0 ? fp32 : half;
                List<Double> out = job == 0 ? fp32Us : halfUs;
                int me = job;
                for (int r = 0; r < WORKERS; r++) {
                    int rank = r;
                    futures.add(pool.submit(() -> {
                        UnsafeBuffer vec = new UnsafeBuffer(BufferUtil.allocateDirectAligned(N * 4, 64));
                        for (int i = 0; i < N; i++) {
                            vec.putFloat(i * 4, (float) Math.sin(i + rank) * 1e-3f);
                        }
                        long thread = Thread.currentThread().getId();
                        try (GradientClient client = new GradientClient(workerAeron.aeron(), spec, rank, "127.0.0.1")) {
                            client.awaitConnected();
                            long step = 0;
                            for (int round = 0; round < ROUNDS + 2; round++) {
                                boolean firstHalf = round % 2 == 0; // ABBA
                                for (int half2 = 0; half2 < 2; half2++) {
                                    barrier.await(60, TimeUnit.SECONDS);
                                    if ((half2 == 0) == (firstHalf == (me == 0))) {
                                        long bytes0 = threads.getThreadAllocatedBytes(thread);
                                        for (int i = 0; i < STEPS; i++) {
                                            long t0 = System.nanoTime();
                                            client.exchange(step++, vec.addressOffset(), 64, 0f);
                                            long t1 = System.nanoTime();
                                            if (rank == 0 && round >= 2) { // two rounds of warm-up
                                                synchronized (out) {
                                                    out.add((t1 - t0) / 1e3);
                                                }
                                            }
                                        }
                                        long bytes = threads.getThreadAllocatedBytes(thread) - bytes0;
                                        if (rank == 0 && round >= 2) {
                                            synchronized (allocated) {
                                                allocated[me] += bytes;
                                                measured[me] += STEPS;
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        return null;
                    }));
                }
            }
            for (Future<?> f : futures) {
                f.get(600, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        System.out.printf(Locale.ROOT, "UDP, %d workers, %d floats, %d x %d steps each, rank 0 us per exchange: "
                + "fp32 median %.0f (p25 %.0f, p75 %.0f), %s median %.0f (p25 %.0f, p75 %.0f), ratio %.2f%n",
            WORKERS, N, ROUNDS, STEPS, median(fp32Us), quantile(fp32Us, 0.25), quantile(fp32Us, 0.75), wire.configName(),
            median(halfUs), quantile(halfUs, 0.25), quantile(halfUs, 0.75), median(halfUs) / median(fp32Us));
        System.out.printf(Locale.ROOT, "rank 0's thread allocates per exchange: fp32 %d B, %s %d B (inside the JDK's GCM: "
            + "%d frames sealed and %d opened)%n", allocated[0] / Math.max(1, measured[0]), wire.configName(),
            allocated[1] / Math.max(1, measured[1]), layout.totalChunks(), layout.totalChunks());
    }

    /**
     * Bytes allocated per step in steady state by rank 0's thread and by the shard threads, 2 workers over
     * UDP, sealed or in the clear; every thread's allocation counter read before and after 200 steps.
     */
    static void allocation(WireFormat wire, boolean sealed) throws Exception {
        int steps = 200;
        int warmUp = 100;
        ShardLayout layout = new ShardLayout(N, 2, ExchangeSpec.chunkValuesFor(ExchangeSpec.DEFAULT_MTU));
        ExchangeSpec s = ExchangeSpec.builder(ThreadLocalRandom.current().nextLong(), layout, WORKERS)
            .transport(ExchangeSpec.Transport.UDP).timeoutMillis(60_000).build();
        ExchangeSpec spec = (sealed ? s : s.withSecret(JobSecret.plaintextForBenchmarks())).withWire(wire);
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long[] client = new long[1];
        long[] shards = new long[1];
        CyclicBarrier measure = new CyclicBarrier(WORKERS, () -> shards[0] -= shardBytes(threads));
        CyclicBarrier done = new CyclicBarrier(WORKERS, () -> shards[0] += shardBytes(threads));
        ExecutorService pool = Executors.newFixedThreadPool(WORKERS);
        try (EmbeddedAeron serverAeron = EmbeddedAeron.forServer(spec);
             EmbeddedAeron workerAeron = EmbeddedAeron.forWorkers(spec);
             ParameterServer server = ParameterServer.start(serverAeron.aeron(), spec, StepListener.NONE)) {
            List<Future<?>> futures = new ArrayList<>();
            for (int r = 0; r < WORKERS; r++) {
                int rank = r;
                futures.add(pool.submit(() -> {
                    UnsafeBuffer vec = new UnsafeBuffer(BufferUtil.allocateDirectAligned(N * 4, 64));
                    long thread = Thread.currentThread().getId();
                    try (GradientClient c = new GradientClient(workerAeron.aeron(), spec, rank, "127.0.0.1")) {
                        c.awaitConnected();
                        long before = 0;
                        for (int step = 0; step < warmUp + steps; step++) {
                            if (step == warmUp) {
                                measure.await(60, TimeUnit.SECONDS);
                                before = threads.getThreadAllocatedBytes(thread);
                            }
                            vec.putFloat(0, step); // the average overwrote it
                            c.exchange(step, vec.addressOffset(), 64, 0f);
                        }
                        if (rank == 0) {
                            client[0] = threads.getThreadAllocatedBytes(thread) - before;
                        }
                        done.await(60, TimeUnit.SECONDS);
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get(600, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        System.out.printf(Locale.ROOT, "%s %s, steady state: rank 0's thread allocates %.0f B per exchange, the two shard"
                + " threads %.0f B per step%n", wire.configName(), sealed ? "sealed" : "in the clear",
            client[0] / (double) steps, shards[0] / (double) steps);
    }

    /** Bytes allocated so far by the server's shard threads. */
    private static long shardBytes(com.sun.management.ThreadMXBean threads) {
        long total = 0;
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().contains("lockstep-ps-shard")) {
                total += threads.getThreadAllocatedBytes(t.getId());
            }
        }
        return total;
    }
}
