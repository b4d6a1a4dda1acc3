package io.lockstep.worker.train;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.server.ParameterServer;
import io.lockstep.ps.server.StepListener;
import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * What the step timeline costs: recording a step ({@link StepClock}, bytes allocated and ns), and
 * the all-gather that ships a full window after each logged step, next to the gradient exchange of
 * the MNIST MLP (235,146 floats, 2 workers, 2 shards, loopback UDP) it rides beside. Rank 0's
 * medians over every round after warm-up. A program that prints figures; run it with
 * {@code ./mvnw -q -B -o -pl worker test -Dtest=TimelineCostBench -Dlockstep.bench=true}.
 */
public class TimelineCostBench {
    static final int N = 235_146;
    static final int WORKERS = 2;
    static final int LOG_EVERY = 50;
    static final int STEPS = 30 * LOG_EVERY;

    @Test
    @EnabledIfSystemProperty(named = "lockstep.bench", matches = "true")
    void run() throws Exception {
        main(new String[0]);
    }

    public static void main(String[] args) throws Exception {
        System.out.printf(Locale.ROOT, "%s, %d cores, load %.1f%n", System.getProperty("java.vm.version"),
            Runtime.getRuntime().availableProcessors(), ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        recording();
        shipping();
    }

    static void recording() {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        StepClock clock = new StepClock();
        int steps = 2_000_000;
        long a0 = 0, t0 = 0;
        for (int i = 0; i < 2 * steps; i++) {
            if (i == steps) { // the first half warms up
                a0 = threads.getCurrentThreadAllocatedBytes();
                t0 = System.nanoTime();
            }
            clock.stepStarting();
            clock.stepEnded(i, i * 1_000L, i * 2_000L, i * 3_000L, i * 4_000L);
            if (clock.full()) {
                clock.ship();
            }
        }
        long ns = System.nanoTime() - t0;
        long bytes = threads.getCurrentThreadAllocatedBytes() - a0;
        System.out.printf(Locale.ROOT, "recording a step (and shipping every %d): %.0f ns, %.4f bytes allocated per step%n",
            StepClock.WINDOW, (double) ns / steps, (double) bytes / steps);
    }

    static void shipping() throws Exception {
        ShardLayout layout = new ShardLayout(N, 2, ExchangeSpec.chunkValuesFor(ExchangeSpec.DEFAULT_MTU));
        ExchangeSpec spec = ExchangeSpec.builder(ThreadLocalRandom.current().nextLong(), layout, WORKERS)
            .transport(ExchangeSpec.Transport.UDP).timeoutMillis(60_000).build();
        List<Double> exchangeUs = new ArrayList<>();
        List<Double> gatherUs = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(WORKERS);
        try (EmbeddedAeron serverAeron = EmbeddedAeron.forServer(spec);
             EmbeddedAeron workerAeron = EmbeddedAeron.forWorkers(spec);
             ParameterServer server = ParameterServer.start(serverAeron.aeron(), spec, StepListener.NONE)) {
            List<Future<?>> futures = new ArrayList<>();
            for (int r = 0; r < WORKERS; r++) {
                int rank = r;
                futures.add(pool.submit(() -> {
                    UnsafeBuffer vec = new UnsafeBuffer(BufferUtil.allocateDirectAligned(N * 4, 64));
                    StepClock clock = new StepClock();
                    try (GradientClient client = new GradientClient(workerAeron.aeron(), spec, rank, "127.0.0.1")) {
                        client.awaitConnected();
                        for (int step = 0; step < STEPS; step++) {
                            long t0 = System.nanoTime();
                            client.exchange(step, vec.addressOffset(), 64, 0f);
                            long t1 = System.nanoTime();
                            clock.stepStarting();
                            clock.stepEnded(step, 0, 0, t1 - t0, 0);
                            boolean warm = step >= 5 * LOG_EVERY;
                            if (rank == 0 && warm) {
                                exchangeUs.add((t1 - t0) / 1e3);
                            }
                            if ((step + 1) % LOG_EVERY == 0) {
                                long g0 = System.nanoTime();
                                client.allGather(Trainer.round(step + 1, Trainer.ROUND_TIMELINE), clock.ship());
                                if (rank == 0 && warm) {
                                    gatherUs.add((System.nanoTime() - g0) / 1e3);
                                }
                            }
                        }
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
        double exchange = median(exchangeUs);
        double gather = median(gatherUs);
        System.out.printf(Locale.ROOT, "UDP, %d workers, %d floats: exchange median %.0f us (p25 %.0f, p75 %.0f, %d steps); "
                + "timeline all-gather of a %d-byte window median %.0f us (p25 %.0f, p75 %.0f, %d rounds); "
                + "at log_every %d that is %.1f us per step, %.2f%% of an exchange%n",
            WORKERS, N, exchange, quantile(exchangeUs, 0.25), quantile(exchangeUs, 0.75), exchangeUs.size(),
            new StepClock().ship().length, gather, quantile(gatherUs, 0.25), quantile(gatherUs, 0.75), gatherUs.size(),
            LOG_EVERY, gather / LOG_EVERY, 100 * gather / LOG_EVERY / exchange);
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
