package io.lockstep.ps.server;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.JobSecret;
import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * What authenticating the wire costs per step, for the MNIST MLP's gradient (235,146 floats): the
 * same exchange (2 workers, 2 shards, the default transport and frame size) with frames sealed by
 * AES-128-GCM and with frames copied in the clear ({@link JobSecret#plaintextForBenchmarks()}),
 * both running in this process, in interleaved rounds (ABBA), medians over every step; and the cost
 * of sealing and opening one step's frames on one thread against the copies they replace.
 * A program that prints figures; run it with
 * {@code ./mvnw -q -B -o -pl parameter-server test -Dtest=AuthCostBench -Dlockstep.bench=true}.
 */
public class AuthCostBench {
    static final int N = 235_146;
    static final int WORKERS = 2;
    static final int ROUNDS = 12;
    static final int STEPS = 40;

    @Test
    @EnabledIfSystemProperty(named = "lockstep.bench", matches = "true")
    void run() throws Exception {
        main(new String[0]);
    }

    public static void main(String[] args) throws Exception {
        System.out.printf(Locale.ROOT, "%s, %d cores, load %.1f%n", System.getProperty("java.vm.version"),
            Runtime.getRuntime().availableProcessors(), ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        crypto();
        // UDP, the default: two IPC jobs in one driver would share stream ids, and the idle job's
        // tethered subscribers would hold the other's publications back
        exchange(ExchangeSpec.Transport.UDP);
    }

    /** One step's frames sealed and opened on one thread, against the two copies they replace. */
    static void crypto() {
        ShardLayout layout = new ShardLayout(N, 2, ExchangeSpec.chunkValuesFor(ExchangeSpec.DEFAULT_MTU));
        int frames = layout.totalChunks();
        UnsafeBuffer vec = new UnsafeBuffer(BufferUtil.allocateDirectAligned(N * 4, 64));
        UnsafeBuffer term = new UnsafeBuffer(BufferUtil.allocateDirectAligned(frames * ExchangeSpec.DEFAULT_MTU, 64));
        JobSecret secret = JobSecret.random();
        FrameCipher.Scratch scratch = new FrameCipher.Scratch();
        FrameCipher sealer = new FrameCipher(secret, 1, FrameHeader.TYPE_GRADIENT, 0, scratch);
        FrameCipher opener = new FrameCipher(secret, 1, FrameHeader.TYPE_GRADIENT, 0, scratch);
        GradientFrame frame = new GradientFrame();
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        List<Double> seal = new ArrayList<>();
        List<Double> open = new ArrayList<>();
        List<Double> copy = new ArrayList<>();
        long step = 0;
        long allocated = 0;
        long sealedFrames = 0;
        for (int round = 0; round < 400; round++) {
            long a0 = threads.getThreadAllocatedBytes(Thread.currentThread().getId());
            long t0 = System.nanoTime();
            step++;
            int at = 0;
            for (int s = 0; s < 2; s++) {
                for (int c = 0; c < layout.chunkCount(s); c++) {
                    int start = layout.chunkStart(s, c);
                    int len = layout.chunkLength(s, c);
                    frame.wrapForWrite(term, at, GradientFrame.frameLength(len)).header(FrameHeader.TYPE_GRADIENT, 1, step, 0,
                        s, c, layout.chunkCount(s), 64, 0f, start, len);
                    sealer.seal(term, at, GradientFrame.HEADER_LENGTH, vec, start * 4, len * 4, step, start);
                    at += ExchangeSpec.DEFAULT_MTU;
                }
            }
            long t1 = System.nanoTime();
            at = 0;
            for (int s = 0; s < 2; s++) {
                for (int c = 0; c < layout.chunkCount(s); c++) {
                    int start = layout.chunkStart(s, c);
                    int len = layout.chunkLength(s, c);
                    if (!opener.openInto(term, at, GradientFrame.HEADER_LENGTH, len * 4, vec, start * 4, step, start)) {
                        throw new IllegalStateException("tag failed");
                    }
                    at += ExchangeSpec.DEFAULT_MTU;
                }
            }
            long t2 = System.nanoTime();
            allocated += threads.getThreadAllocatedBytes(Thread.currentThread().getId()) - a0;
            sealedFrames += 2L * frames;
            at = 0;
            for (int s = 0; s < 2; s++) {
                for (int c = 0; c < layout.chunkCount(s); c++) {
                    int start = layout.chunkStart(s, c);
                    int len = layout.chunkLength(s, c);
                    term.putBytes(at + GradientFrame.HEADER_LENGTH, vec, start * 4, len * 4);
                    vec.putBytes(start * 4, term, at + GradientFrame.HEADER_LENGTH, len * 4);
                    at += ExchangeSpec.DEFAULT_MTU;
                }
            }
            long t3 = System.nanoTime();
            if (round >= 100) { // after warm-up
                seal.add((t1 - t0) / 1e3);
                open.add((t2 - t1) / 1e3);
                copy.add((t3 - t2) / 1e3);
            }
        }
        System.out.printf(Locale.ROOT, "one step's %d frames (%.2f MB) on one thread, medians: seal %.0f us (%.2f GB/s), "
                + "open %.0f us (%.2f GB/s); the two copies they replace %.0f us; the JDK's GCM allocates %d B per frame%n",
            frames, N * 4 / 1e6, median(seal), N * 4 / median(seal) / 1e3, median(open), N * 4 / median(open) / 1e3,
            median(copy), allocated / sealedFrames);
    }

    /** Rank 0's microseconds per exchange, sealed against plaintext, interleaved. */
    static void exchange(ExchangeSpec.Transport transport) throws Exception {
        ShardLayout layout = new ShardLayout(N, 2, ExchangeSpec.chunkValuesFor(ExchangeSpec.DEFAULT_MTU));
        ExchangeSpec sealed = ExchangeSpec.builder(ThreadLocalRandom.current().nextLong(), layout, WORKERS)
            .transport(transport).timeoutMillis(60_000).build();
        ExchangeSpec s = ExchangeSpec.builder(ThreadLocalRandom.current().nextLong(), layout, WORKERS)
            .transport(transport).timeoutMillis(60_000).build();
        ExchangeSpec plain = s.withSecret(JobSecret.plaintextForBenchmarks());
        List<Double> sealedUs = new ArrayList<>();
        List<Double> plainUs = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(2 * WORKERS);
        try (EmbeddedAeron serverAeron = EmbeddedAeron.forServer(sealed);
             EmbeddedAeron workerAeron = EmbeddedAeron.forWorkers(sealed);
             ParameterServer a = ParameterServer.start(serverAeron.aeron(), sealed, StepListener.NONE);
             ParameterServer b = ParameterServer.start(serverAeron.aeron(), plain, StepListener.NONE)) {
            // both jobs' workers run every round; one job steps while the other's workers wait at the barrier
            CyclicBarrier barrier = new CyclicBarrier(2 * WORKERS);
            List<Future<?>> futures = new ArrayList<>();
            for (int job = 0; job < 2; job++) {
                ExchangeSpec spec = job == 0 ? sealed : plain;
                List<Double> out = job == 0 ? sealedUs : plainUs;
                int me = job;
                for (int r = 0; r < WORKERS; r++) {
                    int rank = r;
                    futures.add(pool.submit(() -> {
                        UnsafeBuffer vec = new UnsafeBuffer(BufferUtil.allocateDirectAligned(N * 4, 64));
                        try (GradientClient client = new GradientClient(workerAeron.aeron(), spec, rank, "127.0.0.1")) {
                            client.awaitConnected();
                            long step = 0;
                            for (int round = 0; round < ROUNDS + 2; round++) {
                                boolean firstHalf = round % 2 == 0; // ABBA: A first in even rounds, B first in odd ones
                                for (int half = 0; half < 2; half++) {
                                    barrier.await(60, TimeUnit.SECONDS);
                                    if ((half == 0) == (firstHalf == (me == 0))) {
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
        System.out.printf(Locale.ROOT, "%s, %d workers, %d floats, %d x %d steps each, rank 0 us per exchange: "
                + "sealed median %.0f (p25 %.0f, p75 %.0f), plaintext median %.0f (p25 %.0f, p75 %.0f), difference %.0f%n",
            transport, WORKERS, N, ROUNDS, STEPS, median(sealedUs), quantile(sealedUs, 0.25), quantile(sealedUs, 0.75),
            median(plainUs), quantile(plainUs, 0.25), quantile(plainUs, 0.75), median(sealedUs) - median(plainUs));
    }

    static double median(List<Double> xs) {
        return quantile(xs, 0.5);
    }

    static double quantile(List<Double> xs, double q) {
        List<Double> sorted = new ArrayList<>(xs);
        Collections.sort(sorted);
        return sorted.get((int) Math.min(sorted.size() - 1, Math.round(q * (sorted.size() - 1))));
    }
}
