package io.lockstep.ps.server;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.media.FreePorts;
import io.lockstep.ps.optim.ParamRoles;
import io.lockstep.ps.optim.ServerOptimizer;
import io.lockstep.ps.optim.SliceOptimizer;
import io.lockstep.ps.optim.UpdateRule;
import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The optimizer on the server over the real path: every worker gets the parameters one optimizer over the
 * whole vector computes from the weighted average (however the vector is sharded), a step whose average
 * is not finite is skipped by every shard alike, and the state a worker fetches is that optimizer's state.
 */
@Tag("slow")
class ServerOptimizerTest {
    static EmbeddedAeron aeron;

    @BeforeAll
    static void start() {
        aeron = EmbeddedAeron.acquire();
    }

    @AfterAll
    static void stop() {
        aeron.close();
    }

    @ParameterizedTest(name = "{0} workers={1} shards={2} clip={3} on executors={4}")
    @CsvSource({"UDP,2,3,NORM,false", "UDP,1,1,NONE,false", "IPC,3,2,NORM,false", "IPC,2,1,VALUE,false",
        "UDP,2,3,NORM,true", "UDP,3,3,NORM,true"})
    void workersGetTheParametersOfOneOptimizerOverTheAverage(ExchangeSpec.Transport transport, int workers,
                                                              int shards, UpdateRule.Clip clip, boolean onExecutors)
        throws Exception {
        int n = 50_000;
        ShardLayout layout = new ShardLayout(n, shards, ExchangeSpec.chunkValuesFor(ExchangeSpec.DEFAULT_MTU));
        // weights, then biases, then frozen, then BatchNorm-like statistics: every role crosses shard borders
        ParamRoles roles = new ParamRoles.Builder().add(ParamRoles.WEIGHT, 30_000).add(ParamRoles.BIAS, 5_000)
            .add(ParamRoles.FROZEN, 10_000).add(ParamRoles.ASSIGN, 5_000).build();
        UpdateRule rule = new UpdateRule(UpdateRule.Kind.ADAM, step -> 0.01 / (1 + step), 0, false, 0.9, 0.999,
            1e-8, 0, 1e-4, 1e-3, 0, clip, clip == UpdateRule.Clip.VALUE ? 0.5 : 20);
        ExchangeSpec spec = ExchangeSpec.builder(ThreadLocalRandom.current().nextLong(), layout, workers)
            .transport(transport).termLength(4 * 1024 * 1024).timeoutMillis(20_000).build()
            .withOptimizer(new ServerOptimizer(rule, roles));
        if (onExecutors) {
            spec = onExecutors(spec);
        }
        float[] initial = new float[n];
        Random random = new Random(3);
        for (int i = 0; i < n; i++) {
            initial[i] = (float) random.nextGaussian();
        }
        int steps = 6;
        int nanStep = 3; // one rank's gradient is NaN here: every shard must skip, and nothing changes
        // the reference: one optimizer over the whole vector, fed the weighted averages
        SliceOptimizer reference = new SliceOptimizer(rule, roles, 0, n);
        reference.load(initial, null);
        UnsafeBuffer avg = new UnsafeBuffer(BufferUtil.allocateDirectAligned(n * 4, 64));
        List<float[]> expected = new ArrayList<>();
        for (int step = 0; step < steps; step++) {
            if (step != nanStep) {
                long total = 0;
                for (int r = 0; r < workers; r++) total += samples(r, step);
                for (int i = 0; i < n; i++) {
                    float sum = 0;
                    for (int r = 0; r < workers; r++) sum += samples(r, step) * gradient(r, step, i);
                    avg.putFloat(i * 4, sum / (float) total);
                }
                double norm = Math.sqrt(reference.stage(avg));
                reference.apply(step, rule.clipScale(norm));
            }
            expected.add(copy(reference.params(), n));
        }
        float[] expectedState = copy(reference.state(), 2 * n);

        List<long[]> reported = java.util.Collections.synchronizedList(new ArrayList<>());
        StepListener steps0 = (step, samples, loss, t) -> reported.add(new long[]{step, samples});
        try (Servers servers = new Servers(aeron.aeron(), spec, steps0, initial)) {
            ExchangeSpec wire = spec;
            ExecutorService pool = Executors.newFixedThreadPool(workers);
            List<Future<?>> futures = new ArrayList<>();
            for (int r = 0; r < workers; r++) {
                int rank = r;
                futures.add(pool.submit(() -> {
                    UnsafeBuffer grad = new UnsafeBuffer(BufferUtil.allocateDirectAligned(n * 4, 64));
                    UnsafeBuffer params = new UnsafeBuffer(BufferUtil.allocateDirectAligned(n * 4, 64));
                    for (int i = 0; i < n; i++) params.putFloat(i * 4, initial[i]);
                    try (GradientClient client = new GradientClient(aeron.aeron(), wire, rank, "127.0.0.1")) {
                        client.awaitConnected();
                        for (int step = 0; step < steps; step++) {
                            for (int i = 0; i < n; i++) {
                                grad.putFloat(i * 4, step == nanStep && rank == workers - 1 && i == 7
                                    ? Float.NaN : gradient(rank, step, i));
                            }
                            client.exchange(step, grad.addressOffset(), samples(rank, step), 0.5f,
                                params.addressOffset());
                            assertEquals(step == nanStep, client.skipped(), "rank " + rank + " step " + step);
                            float[] want = expected.get(step);
                            for (int i = 0; i < n; i++) {
                                // sums in arrival order and per-shard norms: equal up to float rounding
                                assertEquals(want[i], params.getFloat(i * 4), 1e-6 * (1 + Math.abs(want[i])),
                                    "rank " + rank + " step " + step + " param " + i);
                            }
                        }
                        if (rank == 0) {
                            UnsafeBuffer state = new UnsafeBuffer(BufferUtil.allocateDirectAligned(2 * n * 4, 64));
                            client.fetchState(steps - 1, state.addressOffset());
                            for (int i = 0; i < 2 * n; i++) {
                                assertEquals(expectedState[i], state.getFloat(i * 4), 1e-6 * (1 + Math.abs(expectedState[i])),
                                    "state " + i);
                            }
                            assertThrows(IllegalArgumentException.class,
                                () -> client.fetchState(steps - 1, state.addressOffset()), "one answer per step");
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get(60, TimeUnit.SECONDS);
            }
            pool.shutdown();
            for (ParameterServer server : servers.all) {
                assertNull(server.failure());
                assertEquals(0, server.drops().refused(), server.drops().toString());
            }
        }
        // shard 0 reported every step once, in order, with the step's samples (over the wire when it runs elsewhere)
        assertEquals(steps, reported.size());
        for (int step = 0; step < steps; step++) {
            long total = 0;
            for (int r = 0; r < workers; r++) total += samples(r, step);
            assertArrayEquals(new long[]{step, total}, reported.get(step));
        }
        // frozen parameters never moved
        for (int i = 35_000; i < 45_000; i++) {
            assertEquals(initial[i], expected.get(steps - 1)[i]);
        }
    }

    /** The spec with shard s on its host rank's "executor": its own server, here all on 127.0.0.1. */
    static ExchangeSpec onExecutors(ExchangeSpec spec) {
        int shards = spec.layout().shards();
        int[] ports = FreePorts.udp("127.0.0.1", 2 * shards + spec.workers());
        String[] hosts = new String[shards];
        int[] norm = new int[shards];
        for (int s = 0; s < shards; s++) {
            hosts[s] = "127.0.0.1";
            norm[s] = ports[2 * shards + ExchangeSpec.hostRank(s, shards, spec.workers())];
        }
        return spec.withShardEndpoints(hosts, java.util.Arrays.copyOfRange(ports, 0, shards),
            java.util.Arrays.copyOfRange(ports, shards, 2 * shards), norm);
    }

    /** The job's servers: one for every shard, or the driver's all-gather endpoint and a server per host rank. */
    static final class Servers implements AutoCloseable {
        final List<ParameterServer> all = new ArrayList<>();

        Servers(io.aeron.Aeron aeron, ExchangeSpec spec, StepListener steps, float[] initial) {
            if (!spec.shardsOnExecutors()) {
                all.add(ParameterServer.start(aeron, spec, steps, GatherListener.NONE, initial, null));
                return;
            }
            all.add(ParameterServer.startGather(aeron, spec, steps, GatherListener.NONE));
            int shards = spec.layout().shards();
            for (int r = 0; r < spec.workers(); r++) {
                int rank = r;
                int[] mine = java.util.stream.IntStream.range(0, shards)
                    .filter(s -> ExchangeSpec.hostRank(s, shards, spec.workers()) == rank).toArray();
                if (mine.length > 0) {
                    all.add(ParameterServer.startShards(aeron, spec, mine, initial, null));
                }
            }
        }

        @Override
        public void close() {
            all.forEach(ParameterServer::close);
        }
    }

    private static int samples(int rank, int step) {
        return 3 + rank + step % 2;
    }

    /** Multiples of 1/64: weighted sums are exact in any order, so arrival order cannot change the average. */
    private static float gradient(int rank, int step, int i) {
        return ((i * 7 + rank * 13 + step * 5) % 61 - 30) / 64f * (1 + rank);
    }

    private static float[] copy(UnsafeBuffer b, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) out[i] = b.getFloat(i * 4);
        return out;
    }
}
