package io.lockstep.ps.server;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.optim.ParamRoles;
import io.lockstep.ps.optim.ServerOptimizer;
import io.lockstep.ps.optim.UpdateRule;
import io.lockstep.ps.wire.HalfCodecTest;
import io.lockstep.ps.wire.WireFormat;
import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code ps.wire: bf16 | fp16} over the real path (embedded media driver, shard agents, a client per
 * worker thread): each step's average is within the rounding of the float32 average (which the float32
 * wire delivers exactly, {@link ParameterServerTest}), every replica gets the same bits, and with error
 * feedback on workers and shards the sum of the averages over many steps tracks the sum of the true
 * averages to within the last residuals, where rounding alone would drift by a step's rounding per step.
 * With the optimizer on the server, gradients go 16-bit and parameters come back float32.
 */
@Tag("slow")
class SixteenBitWireTest {
    static EmbeddedAeron aeron;

    @BeforeAll
    static void start() {
        aeron = EmbeddedAeron.acquire();
    }

    @AfterAll
    static void stop() {
        aeron.close();
    }

    private static final double[] DECADES = {1, 0.1, 0.01, 1e-3, 1e-4};

    /** A persistent per-value bias (plain rounding gets it wrong every step the same way) plus noise. */
    static float gradient(int rank, int step, int i) {
        double bias = Math.sin(i * 0.37 + rank);
        double noise = Math.sin(step * 1.7 + i * 0.11 + rank * 2.3) * 0.2;
        return (float) ((bias + noise) * DECADES[i % 5]);
    }

    static int samples(int rank) {
        return 3 + 2 * rank; // the same every step, so the residuals telescope exactly over the steps
    }

    /** Half an ulp of the format at magnitude {@code m}: the most rounding moves a value near it. */
    static double halfUlp(WireFormat wire, double m) {
        return HalfCodecTest.halfUlp(wire, m);
    }

    @ParameterizedTest(name = "{0} {1} workers={2} shards={3}")
    @CsvSource({"BF16,UDP,2,2", "FP16,UDP,3,1", "BF16,IPC,3,3", "FP16,IPC,2,2"})
    void averagesAreWithinRoundingAndTheirSumTracksTheTrueSum(WireFormat wire, ExchangeSpec.Transport transport,
                                                              int workers, int shards) throws Exception {
        int n = 20_000; // several chunks per shard
        int steps = 50;
        ShardLayout layout = new ShardLayout(n, shards, ExchangeSpec.chunkValuesFor(ExchangeSpec.DEFAULT_MTU));
        ExchangeSpec spec = ParameterServerTest.spec(ThreadLocalRandom.current().nextLong(), layout, workers, transport)
            .withWire(wire);
        assertEquals(wire, spec.answerWire());
        long total = 0;
        for (int r = 0; r < workers; r++) total += samples(r);
        double[][] exact = new double[steps][n];   // the float32 average each step, in double
        double[] scale = new double[n];            // the largest magnitude a value of index i takes
        for (int step = 0; step < steps; step++) {
            for (int i = 0; i < n; i++) {
                double sum = 0;
                for (int r = 0; r < workers; r++) {
                    sum += samples(r) * (double) gradient(r, step, i);
                    scale[i] = Math.max(scale[i], Math.abs(gradient(r, step, i)));
                }
                exact[step][i] = sum / total;
            }
        }
        List<float[]> finalSums = new ArrayList<>();
        try (ParameterServer server = ParameterServer.start(aeron.aeron(), spec, StepListener.NONE)) {
            ExecutorService pool = Executors.newFixedThreadPool(workers);
            List<Future<float[]>> futures = new ArrayList<>();
            for (int r = 0; r < workers; r++) {
                int rank = r;
                futures.add(pool.submit(() -> {
                    UnsafeBuffer vec = new UnsafeBuffer(BufferUtil.allocateDirectAligned(n * 4, 64));
                    double[] sentSum = new double[n];
                    double[] exactSum = new double[n];
                    double worstStep = 0;
                    try (GradientClient client = new GradientClient(aeron.aeron(), spec, rank, "127.0.0.1")) {
                        client.awaitConnected();
                        for (int step = 0; step < steps; step++) {
                            for (int i = 0; i < n; i++) vec.putFloat(i * 4, gradient(rank, step, i));
                            client.exchange(step, vec.addressOffset(), samples(rank), 0.25f);
                            for (int i = 0; i < n; i++) {
                                float got = vec.getFloat(i * 4);
                                // the worker's and the shard's rounding, each with last step's residual carried in
                                double bound = 4 * halfUlp(wire, 2 * scale[i]) + 1e-6 * scale[i];
                                double error = Math.abs(got - exact[step][i]);
                                assertTrue(error <= bound, wire + " rank " + rank + " step " + step + " value " + i
                                    + ": " + got + " vs " + exact[step][i]);
                                worstStep = Math.max(worstStep, error / scale[i]);
                                sentSum[i] += got;
                                exactSum[i] += exact[step][i];
                                assertTrue(Math.abs(client.residual(i)) <= halfUlp(wire, 2 * scale[i]),
                                    "rank " + rank + " residual of value " + i + " bounded: " + client.residual(i));
                            }
                        }
                    }
                    float[] sums = new float[n];
                    double worstDrift = 0;
                    for (int i = 0; i < n; i++) {
                        // over all steps: off by the residuals left at the end, not by every step's rounding
                        double drift = Math.abs(sentSum[i] - exactSum[i]);
                        double bound = 3 * halfUlp(wire, 2 * scale[i]) + steps * 1e-6 * scale[i];
                        assertTrue(drift <= bound, wire + " rank " + rank + " value " + i + ": the sum over " + steps
                            + " steps drifted by " + drift + " (bound " + bound + ")");
                        worstDrift = Math.max(worstDrift, drift / scale[i]);
                        sums[i] = (float) sentSum[i];
                    }
                    assertTrue(worstDrift < worstStep * steps / 10, "summed drift " + worstDrift
                        + " stays far below " + steps + " steps of rounding " + worstStep);
                    return sums;
                }));
            }
            for (Future<float[]> f : futures) {
                finalSums.add(f.get(120, TimeUnit.SECONDS));
            }
            pool.shutdown();
            assertNull(server.failure());
            assertEquals(0, server.drops().refused(), server.drops().toString());
        }
        for (int r = 1; r < workers; r++) {
            assertArrayEquals(finalSums.get(0), finalSums.get(r), "every replica got the same averages");
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"BF16,UDP", "FP16,IPC"})
    void withTheOptimizerOnTheServerGradientsGo16BitAndParametersComeBackFloat32(WireFormat wire,
                                                                                 ExchangeSpec.Transport transport)
        throws Exception {
        int n = 20_000;
        int workers = 2;
        int steps = 40;
        float lr = 0.1f;
        ShardLayout layout = new ShardLayout(n, 2, ExchangeSpec.chunkValuesFor(ExchangeSpec.DEFAULT_MTU));
        UpdateRule sgd = new UpdateRule(UpdateRule.Kind.SGD, step -> lr, 0, false, 0, 0, 0, 0, 0, 0, 0,
            UpdateRule.Clip.NONE, 0);
        ExchangeSpec spec = ParameterServerTest.spec(ThreadLocalRandom.current().nextLong(), layout, workers, transport)
            .withOptimizer(new ServerOptimizer(sgd, ParamRoles.allWeights(n))).withWire(wire);
        assertEquals(WireFormat.FP32, spec.answerWire());
        float[] initial = new float[n];
        for (int i = 0; i < n; i++) initial[i] = (float) Math.cos(i);
        long total = samples(0) + samples(1);
        try (ParameterServer server = ParameterServer.start(aeron.aeron(), spec, StepListener.NONE,
            GatherListener.NONE, initial, null)) {
            ExecutorService pool = Executors.newFixedThreadPool(workers);
            List<Future<float[]>> futures = new ArrayList<>();
            for (int r = 0; r < workers; r++) {
                int rank = r;
                futures.add(pool.submit(() -> {
                    UnsafeBuffer grad = new UnsafeBuffer(BufferUtil.allocateDirectAligned(n * 4, 64));
                    UnsafeBuffer params = new UnsafeBuffer(BufferUtil.allocateDirectAligned(n * 4, 64));
                    try (GradientClient client = new GradientClient(aeron.aeron(), spec, rank, "127.0.0.1")) {
                        client.awaitConnected();
                        for (int step = 0; step < steps; step++) {
                            for (int i = 0; i < n; i++) grad.putFloat(i * 4, gradient(rank, step, i));
                            client.exchange(step, grad.addressOffset(), samples(rank), 0.25f, params.addressOffset());
                            assertFalse(client.skipped());
                        }
                    }
                    float[] out = new float[n];
                    for (int i = 0; i < n; i++) out[i] = params.getFloat(i * 4);
                    return out;
                }));
            }
            float[] p0 = futures.get(0).get(120, TimeUnit.SECONDS);
            float[] p1 = futures.get(1).get(120, TimeUnit.SECONDS);
            pool.shutdown();
            assertNull(server.failure());
            assertEquals(0, server.drops().refused(), server.drops().toString());
            assertArrayEquals(p0, p1, "float32 parameters: every replica the same bits");
            for (int i = 0; i < n; i++) {
                // SGD: params = initial - lr * sum of the averages; error feedback keeps that sum on track
                double sum = 0;
                double scale = 0;
                for (int step = 0; step < steps; step++) {
                    for (int r = 0; r < workers; r++) {
                        sum += samples(r) * (double) gradient(r, step, i) / total;
                        scale = Math.max(scale, Math.abs(gradient(r, step, i)));
                    }
                }
                double want = initial[i] - lr * sum;
                double bound = lr * 2 * halfUlp(wire, 2 * scale) + steps * 2e-7 * (1 + Math.abs(want));
                assertEquals(want, p0[i], bound, wire + " parameter " + i);
            }
        }
    }
}
