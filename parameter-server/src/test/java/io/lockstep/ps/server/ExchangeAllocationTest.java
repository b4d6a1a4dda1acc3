package io.lockstep.ps.server;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.wire.JobSecret;
import io.lockstep.ps.wire.WireFormat;
import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Heap bytes per step on the exchange path in steady state, read from every thread's allocation counter
 * ({@code com.sun.management.ThreadMXBean}) over windows of steps after a warm-up: every worker's thread and the
 * shard threads, 2 workers and 2 shards over UDP. Frames in the clear (fp32 and bf16): 0 bytes per step, in the first
 * window where the JIT has finished with the path (a per-step allocation shows in every window). Sealed frames: at
 * most {@link #SEALED_BYTES_PER_FRAME} per frame sealed or opened, all of it the JDK's AES-GCM (about 1.1 KB measured,
 * docs/benchmarks.md).
 */
@Tag("slow")
class ExchangeAllocationTest {
    static final int FLOATS = 50_000;
    static final int WORKERS = 2;
    static final int WARM_UP = 200;
    static final int WINDOWS = 8;
    static final int STEPS = 100;
    static final long SEALED_BYTES_PER_FRAME = 2048;

    @ParameterizedTest(name = "{0}, sealed {1}")
    @CsvSource({"FP32,false", "BF16,false", "FP32,true", "BF16,true"})
    void theExchangePathAllocatesNothingPerStepInTheClearAndABoundedAmountSealed(WireFormat wire, boolean sealed)
        throws Exception {
        ShardLayout layout = new ShardLayout(FLOATS, 2, ExchangeSpec.chunkValuesFor(ExchangeSpec.DEFAULT_MTU));
        ExchangeSpec created = ExchangeSpec.builder(0x5EED_A110CL, layout, WORKERS)
            .transport(ExchangeSpec.Transport.UDP).timeoutMillis(60_000).build().withWire(wire);
        ExchangeSpec spec = sealed ? created : created.withSecret(JobSecret.plaintextForBenchmarks());
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        assumeCounting(threads);
        long[][] clients = new long[WINDOWS][WORKERS];
        long[] shardMarks = new long[WINDOWS + 1];
        int[] marks = {0};
        CyclicBarrier mark = new CyclicBarrier(WORKERS, () -> shardMarks[marks[0]++] = shardBytes(threads));
        ExecutorService pool = Executors.newFixedThreadPool(WORKERS);
        try (EmbeddedAeron serverAeron = EmbeddedAeron.forServer(spec);
             EmbeddedAeron workerAeron = EmbeddedAeron.forWorkers(spec);
             ParameterServer server = ParameterServer.start(serverAeron.aeron(), spec, StepListener.NONE)) {
            List<Future<?>> futures = new ArrayList<>();
            for (int r = 0; r < WORKERS; r++) {
                int rank = r;
                futures.add(pool.submit(() -> {
                    UnsafeBuffer vec = new UnsafeBuffer(BufferUtil.allocateDirectAligned(FLOATS * 4, 64));
                    long me = Thread.currentThread().getId();
                    try (GradientClient client = new GradientClient(workerAeron.aeron(), spec, rank, "127.0.0.1")) {
                        client.awaitConnected();
                        long step = 0;
                        for (; step < WARM_UP; step++) {
                            exchange(client, vec, step, rank);
                        }
                        for (int w = 0; w < WINDOWS; w++) {
                            mark.await(60, TimeUnit.SECONDS);
                            long before = threads.getThreadAllocatedBytes(me);
                            for (int i = 0; i < STEPS; i++, step++) {
                                exchange(client, vec, step, rank);
                            }
                            clients[w][rank] = threads.getThreadAllocatedBytes(me) - before;
                        }
                        mark.await(60, TimeUnit.SECONDS);
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get(300, TimeUnit.SECONDS);
            }
            assertNull(server.failure());
        } finally {
            pool.shutdownNow();
        }

        double[] perStep = new double[WINDOWS]; // every worker thread and the shard threads together
        StringBuilder report = new StringBuilder();
        for (int w = 0; w < WINDOWS; w++) {
            long shards = shardMarks[w + 1] - shardMarks[w];
            perStep[w] = (Arrays.stream(clients[w]).sum() + shards) / (double) STEPS;
            report.append(String.format(Locale.ROOT, "window %d: workers %s B, shards %d B over %d steps%n", w,
                Arrays.toString(clients[w]), shards, STEPS));
        }
        System.out.printf(Locale.ROOT, "%s %s, %d frames per worker per step:%n%s", wire.configName(),
            sealed ? "sealed" : "in the clear", layout.totalChunks(), report);
        if (!sealed) {
            assertEquals(0.0, Arrays.stream(perStep).min().orElseThrow(), "bytes per step on the exchange path, "
                + "clear frames: no window of " + STEPS + " steps allocated nothing:\n" + report);
        } else {
            // a worker seals and opens one frame per chunk; a shard opens each worker's and seals one per chunk
            long frames = (2L * WORKERS + WORKERS + 1) * layout.totalChunks();
            double[] sorted = perStep.clone();
            Arrays.sort(sorted);
            double median = sorted[WINDOWS / 2];
            assertTrue(median > 0, "sealing allocates inside the JDK's GCM; none counted:\n" + report);
            assertTrue(median <= frames * SEALED_BYTES_PER_FRAME, String.format(Locale.ROOT,
                "%.0f B per step sealed, above %d frames x %d B:%n%s", median, frames, SEALED_BYTES_PER_FRAME, report));
        }
    }

    private static void exchange(GradientClient client, UnsafeBuffer vec, long step, int rank) throws Exception {
        vec.putFloat(0, step + rank); // the average overwrote it
        client.exchange(step, vec.addressOffset(), 64, 0f);
    }

    static void assumeCounting(com.sun.management.ThreadMXBean threads) {
        assertTrue(threads.isThreadAllocatedMemorySupported(), "this JVM counts allocated bytes per thread");
        threads.setThreadAllocatedMemoryEnabled(true);
    }

    /** Bytes allocated so far by the server's shard threads. */
    static long shardBytes(com.sun.management.ThreadMXBean threads) {
        long total = 0;
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().contains("lockstep-ps-shard")) {
                total += threads.getThreadAllocatedBytes(t.getId());
            }
        }
        return total;
    }
}
