package io.lockstep.worker.exchange;

import io.lockstep.ps.optim.ParamRoles;
import io.lockstep.ps.optim.ServerOptimizer;
import io.lockstep.ps.optim.UpdateRule;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

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
 * The in-memory exchange (every worker in one JVM, nothing on the wire) allocates nothing per step in steady state:
 * 3 worker threads exchange back to back, with the optimizer on the replicas (the leader reduces, the members copy)
 * and split over the members (server placement); each thread's allocation counter is read around windows of
 * steps after a warm-up, and some window must show 0 bytes on every thread (a per-step allocation shows in all).
 */
class InMemoryAllocationTest {
    static final int FLOATS = 20_000;
    static final int WORKERS = 3;
    static final int WARM_UP = 2_000;
    static final int WINDOWS = 8;
    static final int STEPS = 500;

    @ParameterizedTest(name = "optimizer on the {0}")
    @ValueSource(strings = {"replicas", "server"})
    void theInMemoryExchangeAllocatesNothingPerStep(String placement) throws Exception {
        ServerOptimizer optimizer = placement.equals("server")
            ? new ServerOptimizer(new UpdateRule(UpdateRule.Kind.ADAM, step -> 0.01, 0, false, 0.9, 0.999, 1e-8, 0, 0, 0,
                0, UpdateRule.Clip.NONE, 0), ParamRoles.allWeights(FLOATS))
            : null;
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        assertTrue(threads.isThreadAllocatedMemorySupported(), "this JVM counts allocated bytes per thread");
        threads.setThreadAllocatedMemoryEnabled(true);
        long job = 0x1A110CL + placement.hashCode();
        int[] everyRank = {0, 1, 2};
        long[][] bytes = new long[WINDOWS][WORKERS];
        CyclicBarrier mark = new CyclicBarrier(WORKERS);
        ExecutorService pool = Executors.newFixedThreadPool(WORKERS);
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int r = 0; r < WORKERS; r++) {
                int rank = r;
                futures.add(pool.submit(() -> {
                    INDArray gradient = Nd4j.create(DataType.FLOAT, FLOATS);
                    INDArray params = Nd4j.create(DataType.FLOAT, FLOATS);
                    long me = Thread.currentThread().getId();
                    try (InMemoryExchange exchange = new InMemoryExchange(JvmWorkerGroup.join(job, everyRank), rank,
                        WORKERS, optimizer, null, null, 30_000)) {
                        long step = 0;
                        for (; step < WARM_UP; step++) {
                            exchange(exchange, gradient, params, step, rank);
                        }
                        for (int w = 0; w < WINDOWS; w++) {
                            mark.await(60, TimeUnit.SECONDS);
                            long before = threads.getThreadAllocatedBytes(me);
                            for (int i = 0; i < STEPS; i++, step++) {
                                exchange(exchange, gradient, params, step, rank);
                            }
                            bytes[w][rank] = threads.getThreadAllocatedBytes(me) - before;
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get(300, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        StringBuilder report = new StringBuilder();
        long least = Long.MAX_VALUE;
        for (int w = 0; w < WINDOWS; w++) {
            least = Math.min(least, Arrays.stream(bytes[w]).sum());
            report.append(String.format(Locale.ROOT, "window %d: workers %s B over %d steps%n", w,
                Arrays.toString(bytes[w]), STEPS));
        }
        System.out.printf(Locale.ROOT, "in-memory exchange, optimizer on the %s:%n%s", placement, report);
        assertEquals(0, least, "no window of " + STEPS + " steps allocated nothing:\n" + report);
    }

    private static void exchange(InMemoryExchange exchange, INDArray gradient, INDArray params, long step, int rank)
        throws Exception {
        exchange.exchange(step, gradient, params, 16 + rank, 0.5f);
    }
}
