package io.lockstep.ps.server;

import io.aeron.ExclusivePublication;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.media.PortRange;
import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.*;

import static org.junit.jupiter.api.Assertions.*;

/** The real path: embedded media driver, sharded server agents, one client per worker thread. */
@Tag("slow")
class ParameterServerTest {
    static EmbeddedAeron aeron;

    @BeforeAll
    static void start() {
        aeron = EmbeddedAeron.acquire();
    }

    @AfterAll
    static void stop() {
        aeron.close();
    }

    static ExchangeSpec spec(long job, ShardLayout layout, int workers, ExchangeSpec.Transport transport) {
        return ExchangeSpec.builder(job, layout, workers).transport(transport).termLength(4 * 1024 * 1024)
            .timeoutMillis(20_000).build();
    }

    static void assertWithin(PortRange range, int[] ports) {
        for (int port : ports) {
            assertTrue(port >= range.first() && port <= range.last(), port + " outside ps.ports " + range);
        }
    }

    static ExchangeSpec withTimeout(ExchangeSpec s, long timeoutMillis) {
        return s.toBuilder().timeoutMillis(timeoutMillis).build();
    }

    /** {@code ps.ports} first-last: 2 workers, 2 shards in a range of 9 ports (below the kernel's ephemeral range). */
    static final int RANGE_FIRST = 23_000 + 16 * ThreadLocalRandom.current().nextInt(400);

    @ParameterizedTest(name = "{0} workers={1} shards={2} ranged={3}")
    @CsvSource({"UDP,1,1,false", "UDP,2,2,false", "UDP,4,3,false", "IPC,2,3,false", "IPC,4,1,false", "UDP,2,2,true"})
    void everyWorkerGetsTheExactWeightedAverage(ExchangeSpec.Transport transport, int workers, int shards,
                                                boolean ranged) throws Exception {
        int n = 40_000; // several chunks per shard
        ShardLayout layout = new ShardLayout(n, shards, ExchangeSpec.chunkValuesFor(ExchangeSpec.DEFAULT_MTU));
        long job = ThreadLocalRandom.current().nextLong();
        // 2 per shard and 2 for the gather at the server, 1 per shard and 1 for the workers' JVM: 9 in all
        PortRange range = new PortRange(RANGE_FIRST, RANGE_FIRST + 3 * shards + 2);
        ExchangeSpec spec = ranged
            ? ExchangeSpec.builder(job, layout, workers).transport(transport).termLength(4 * 1024 * 1024)
                .timeoutMillis(20_000).portRange(range).build()
            : spec(job, layout, workers, transport);
        if (ranged) {
            assertWithin(range, spec.upstreamPorts());
            assertWithin(range, spec.controlPorts());
            assertWithin(range, new int[]{spec.gatherPort(), spec.gatherControlPort()});
        }
        List<long[]> steps = new CopyOnWriteArrayList<>();
        int stepCount = 5;
        try (ParameterServer server = ParameterServer.start(aeron.aeron(), spec,
            (step, samples, loss, t) -> steps.add(new long[]{step, samples}))) {
            ExecutorService pool = Executors.newFixedThreadPool(workers);
            List<Future<?>> futures = new ArrayList<>();
            for (int r = 0; r < workers; r++) {
                int rank = r;
                futures.add(pool.submit(() -> {
                    UnsafeBuffer vec = new UnsafeBuffer(BufferUtil.allocateDirectAligned(n * 4, 64));
                    try (GradientClient client = new GradientClient(aeron.aeron(), spec, rank, "127.0.0.1")) {
                        client.awaitConnected();
                        if (ranged) {
                            for (int s = 0; s <= shards; s++) {
                                String endpoint = client.receiveEndpoint(s);
                                assertWithin(range, new int[]{Integer.parseInt(endpoint.substring(endpoint.lastIndexOf(':') + 1))});
                            }
                        }
                        for (int step = 0; step < stepCount; step++) {
                            int samples = rank + 1 + step;
                            for (int i = 0; i < n; i++) {
                                vec.putFloat(i * 4, (float) ((rank + 1) * (i % 97) + step));
                            }
                            client.exchange(step, vec.addressOffset(), samples, rank);
                            long total = 0;
                            for (int q = 0; q < workers; q++) total += q + 1 + step;
                            assertEquals(total, client.totalSamples());
                            for (int i = 0; i < n; i++) {
                                float sum = 0;
                                for (int q = 0; q < workers; q++) sum += (q + 1 + step) * (float) ((q + 1) * (i % 97) + step);
                                assertEquals(sum / (float) total, vec.getFloat(i * 4), "rank " + rank + " value " + i);
                            }
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get(60, TimeUnit.SECONDS);
            }
            pool.shutdown();
            assertEquals(0, server.drops().refused(), server.drops().toString());
            assertNull(server.failure());
        }
        assertEquals(stepCount, steps.size());
        assertEquals(stepCount - 1, steps.get(stepCount - 1)[0]);
    }

    /**
     * A stranger that knows the shard's port and even its stream id, but not the session id of any rank (derived
     * from the job's secret): its publication gets no image at the server, so it never connects, and nothing it
     * would send is read, counted or summed. (Frames that do reach a shard on a rank's session are checked by
     * ShardAggregatorTest and the on-path attacks of HostileNetworkTest.)
     */
    @ParameterizedTest
    @CsvSource({"UDP", "IPC"})
    void aStrangersPublicationNeverConnectsAndNothingItSendsIsRead(ExchangeSpec.Transport transport) throws Exception {
        ShardLayout layout = new ShardLayout(100, 1, 64);
        long job = 77;
        ExchangeSpec spec = spec(job, layout, 1, transport);
        String stranger = transport == ExchangeSpec.Transport.IPC ? "aeron:ipc"
            : "aeron:udp?endpoint=127.0.0.1:" + spec.upstreamPorts()[0];
        try (ParameterServer server = ParameterServer.start(aeron.aeron(), spec, StepListener.NONE);
             ExclusivePublication rogue = aeron.aeron().addExclusivePublication(stranger, spec.upstreamStream(0));
             GradientClient client = new GradientClient(aeron.aeron(), spec, 0, "127.0.0.1")) {
            client.awaitConnected();
            float[] ones = new float[100];
            java.util.Arrays.fill(ones, 1000f);
            UnsafeBuffer vec = new UnsafeBuffer(BufferUtil.allocateDirectAligned(400, 64));
            for (int i = 0; i < 100; i++) vec.putFloat(i * 4, 2f);
            client.exchange(0, vec.addressOffset(), 2, 0.5f);
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(500);
            long refused = 0;
            while (System.nanoTime() < deadline) {
                refused += rogue.offer(ShardAggregatorTest.frame(job, 0, 1, layout, 0, 0, 1000, 0, ones)) < 0 ? 1 : 0;
                Thread.sleep(5);
            }
            assertFalse(rogue.isConnected(), "the stranger's publication found an image");
            assertTrue(refused > 0);
            for (int i = 0; i < 100; i++) vec.putFloat(i * 4, 4f);
            client.exchange(1, vec.addressOffset(), 2, 0.5f);
            assertEquals(4f, vec.getFloat(0), "rogue frames must not reach the sum");
            assertEquals(0, server.drops().refused(), "nothing of the stranger's was even read: " + server.drops());
        }
    }

    @org.junit.jupiter.api.Test
    void aMissingWorkerTimesOutNamingWhoWasWaitedFor() throws Exception {
        ShardLayout layout = new ShardLayout(1000, 2, 300);
        ExchangeSpec spec = withTimeout(spec(5, layout, 2, ExchangeSpec.Transport.UDP), 1_000);
        try (ParameterServer server = ParameterServer.start(aeron.aeron(), spec, StepListener.NONE);
             GradientClient client = new GradientClient(aeron.aeron(), spec, 0, "127.0.0.1")) {
            client.awaitConnected();
            UnsafeBuffer vec = new UnsafeBuffer(BufferUtil.allocateDirectAligned(4000, 64));
            long start = System.nanoTime();
            TimeoutException e = assertThrows(TimeoutException.class,
                () -> client.exchange(0, vec.addressOffset(), 1, 0f));
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5), "deadline respected");
            assertTrue(e.getMessage().contains("rank 0 step 0: no average from shard 0, shard 1 within 1000 ms"),
                e.getMessage());
            assertEquals("shard 0 step 0 waits for rank(s) 1; shard 1 step 0 waits for rank(s) 1", server.waitingFor());
            // the server's own deadline: from the step's first frame, named by shard, step and rank
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (server.failure() == null) {
                assertTrue(System.nanoTime() < deadline, "the server never timed out");
                Thread.sleep(5);
            }
            assertTrue(server.failure().getMessage().matches(
                "parameter-server shard [01] step 0: no gradient from rank\\(s\\) 1 within 1000 ms"),
                server.failure().getMessage());
        }
    }

    static void offer(ExclusivePublication pub, UnsafeBuffer frame) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (pub.offer(frame, 0, frame.capacity()) < 0) {
            assertTrue(System.nanoTime() < deadline, "rogue publication never connected");
            Thread.sleep(1);
        }
    }
}
