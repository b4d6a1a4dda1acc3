package io.lockstep.ps.server;

import io.aeron.ExclusivePublication;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.media.EmbeddedAeron;
import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.*;

import static io.lockstep.ps.server.GatherAggregatorTest.blob;
import static org.junit.jupiter.api.Assertions.*;

/** All-gathers through the real path: embedded media driver, server agents, one client per worker thread. */
@Tag("slow")
class AllGatherTest {
    static EmbeddedAeron aeron;

    @BeforeAll
    static void start() {
        aeron = EmbeddedAeron.acquire();
    }

    @AfterAll
    static void stop() {
        aeron.close();
    }

    /** What rank {@code rank} contributes to {@code round}: 0 bytes, 10 bytes or 300 KB, and 1 MiB+ once. */
    static byte[] contribution(long round, int rank) {
        int[] sizes = {0, 10, 300_000};
        int length = round == 40 && rank == 0 ? (1 << 20) + 12_345 : sizes[(int) ((round + rank) % 3)];
        return blob(length, (int) round * 7 + rank);
    }

    record Gathered(long round, byte[][] blobs) {
    }

    @ParameterizedTest(name = "{0} workers={1}")
    @CsvSource({"UDP,1", "UDP,2", "UDP,3", "IPC,1", "IPC,2", "IPC,3"})
    void everyRankGetsEveryBlobInterleavedWithGradientSteps(ExchangeSpec.Transport transport, int workers)
        throws Exception {
        int n = 20_000;
        ShardLayout layout = new ShardLayout(n, 2, ExchangeSpec.chunkValuesFor(ExchangeSpec.DEFAULT_MTU));
        // a 4 MiB term caps an Aeron message at 512 KiB: the 1 MiB+ blob of round 40 must travel in chunks
        ExchangeSpec spec = ParameterServerTest.spec(ThreadLocalRandom.current().nextLong(), layout, workers, transport);
        // the caller's sequence, the same on every rank: a step (>= 0) or a gather round (written -round)
        long[] script = {0, -10, 1, -11, -25, 2, 3, -40, 4};
        List<Gathered> seen = new CopyOnWriteArrayList<>();
        List<Long> steps = new CopyOnWriteArrayList<>();
        try (ParameterServer server = ParameterServer.start(aeron.aeron(), spec,
            (step, samples, loss, t) -> steps.add(step), (round, blobs) -> seen.add(new Gathered(round, blobs)))) {
            ExecutorService pool = Executors.newFixedThreadPool(workers);
            List<Future<?>> futures = new ArrayList<>();
            for (int r = 0; r < workers; r++) {
                int rank = r;
                futures.add(pool.submit(() -> {
                    UnsafeBuffer vec = new UnsafeBuffer(BufferUtil.allocateDirectAligned(n * 4, 64));
                    try (GradientClient client = new GradientClient(aeron.aeron(), spec, rank, "127.0.0.1")) {
                        client.awaitConnected();
                        for (long op : script) {
                            if (op >= 0) {
                                vec.setMemory(0, n * 4, (byte) 0);
                                vec.putFloat(0, rank + 1);
                                vec.putFloat((n - 1) * 4, 2 * (rank + 1));
                                client.exchange(op, vec.addressOffset(), 1, 0f);
                                assertEquals((workers + 1) / 2f, vec.getFloat(0), "rank " + rank + " step " + op);
                                assertEquals(workers + 1f, vec.getFloat((n - 1) * 4), "rank " + rank + " step " + op);
                            } else {
                                long round = -op;
                                byte[][] all = client.allGather(round, contribution(round, rank));
                                assertEquals(workers, all.length);
                                for (int q = 0; q < workers; q++) {
                                    assertArrayEquals(contribution(round, q), all[q],
                                        "rank " + rank + " round " + round + " blob of rank " + q);
                                }
                            }
                        }
                        assertEquals(0, client.ignoredFrames());
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get(60, TimeUnit.SECONDS);
            }
            pool.shutdown();
            assertEquals(0, server.gatherDrops().total(), server.gatherDrops().toString());
            assertNull(server.failure());
            assertFalse(server.waitingFor().contains("gather"), server.waitingFor());
        }
        assertEquals(List.of(0L, 1L, 2L, 3L, 4L), steps);
        assertEquals(List.of(10L, 11L, 25L, 40L), seen.stream().map(Gathered::round).toList(),
            "the listener hears each round once, in order");
        for (Gathered g : seen) {
            assertEquals(workers, g.blobs().length);
            for (int q = 0; q < workers; q++) {
                assertArrayEquals(contribution(g.round(), q), g.blobs()[q], "listener round " + g.round() + " rank " + q);
            }
        }
    }

    @ParameterizedTest(name = "{0} ranks gathering: {1}")
    @CsvSource(delimiter = '|', value = {"UDP|0 2|1", "IPC|0|1, 2"})
    void aMissingRankTimesOutNamingTheRoundAndTheRank(ExchangeSpec.Transport transport, String gathering,
                                                       String missing) throws Exception {
        ShardLayout layout = new ShardLayout(1000, 1, 300);
        ExchangeSpec spec = ParameterServerTest.withTimeout(ParameterServerTest.spec(9, layout, 3, transport), 1_000);
        int[] ranks = Arrays.stream(gathering.split(" ")).mapToInt(Integer::parseInt).toArray();
        List<GradientClient> clients = new ArrayList<>();
        try (ParameterServer server = ParameterServer.start(aeron.aeron(), spec, StepListener.NONE)) {
            for (int r = 0; r < 3; r++) {
                clients.add(new GradientClient(aeron.aeron(), spec, r, "127.0.0.1"));
            }
            for (GradientClient c : clients) {
                c.awaitConnected();
            }
            ExecutorService pool = Executors.newFixedThreadPool(ranks.length);
            List<Future<TimeoutException>> futures = new ArrayList<>();
            long start = System.nanoTime();
            for (int rank : ranks) {
                futures.add(pool.submit(() -> assertThrows(TimeoutException.class,
                    () -> clients.get(rank).allGather(7, contribution(7, rank)))));
            }
            for (int i = 0; i < ranks.length; i++) {
                TimeoutException e = futures.get(i).get(30, TimeUnit.SECONDS);
                assertEquals("rank " + ranks[i] + " gather round 7: no blob from rank(s) " + missing
                    + " within 1000 ms", e.getMessage());
            }
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5), "deadline respected");
            pool.shutdown();
            // shards list the ranks of the step they expect next; the gather names the ranks it lacks
            assertEquals("shard 0 step 0 waits for rank(s) 0,1,2; gather round 7 waits for rank(s) "
                + missing.replace(", ", ","), server.waitingFor());
        } finally {
            clients.forEach(GradientClient::close);
        }
    }

    /**
     * Rank 1's blob of round 5 is sent behind its client's back, so rank 0 finishes round 5 and
     * starts round 6 before rank 1 has read anything: rank 1's image then holds round 5's blobs
     * with rank 0's round-6 blob right behind them, which its round-5 read must leave in place.
     */
    @ParameterizedTest
    @CsvSource({"UDP", "IPC"})
    void aFasterRanksNextRoundWaitsBehindTheRoundASlowerRankIsStillReading(ExchangeSpec.Transport transport)
        throws Exception {
        long job = 79;
        ExchangeSpec spec = ParameterServerTest.withTimeout(
            ParameterServerTest.spec(job, new ShardLayout(100, 1, 64), 2, transport), 5_000);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (ParameterServer server = ParameterServer.start(aeron.aeron(), spec, StepListener.NONE);
             GradientClient fast = new GradientClient(aeron.aeron(), spec, 0, "127.0.0.1");
             GradientClient slow = new GradientClient(aeron.aeron(), spec, 1, "127.0.0.1")) {
            fast.awaitConnected();
            slow.awaitConnected();
            byte[] slow5 = contribution(5, 1);
            slow.upload(5, slow5); // rank 1 has sent its blob and reads nothing yet
            byte[][] round5 = {contribution(5, 0), slow5};
            assertArrayEquals(round5, fast.allGather(5, round5[0]));
            byte[][] round6 = {contribution(6, 0), contribution(6, 1)};
            Future<byte[][]> fast6 = pool.submit(() -> fast.allGather(6, round6[0]));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!server.waitingFor().contains("gather round 6 waits for rank(s) 1")) {
                assertTrue(System.nanoTime() < deadline, server.waitingFor());
                Thread.sleep(1);
            }
            Thread.sleep(100); // rank 0's round-6 blob is forwarded in the same duty cycle: let it land
            assertArrayEquals(round5, slow.collect());
            assertArrayEquals(round6, slow.allGather(6, round6[1]));
            assertArrayEquals(round6, fast6.get(10, TimeUnit.SECONDS));
            assertEquals(0, server.gatherDrops().total(), server.gatherDrops().toString());
        } finally {
            pool.shutdownNow();
        }
    }

    /** A stranger on the gather port and stream but on no rank's session: never connected, nothing read or gathered. */
    @ParameterizedTest
    @CsvSource({"UDP", "IPC"})
    void aStrangersGatherFramesAreNeverRead(ExchangeSpec.Transport transport) throws Exception {
        ShardLayout layout = new ShardLayout(100, 1, 64);
        long job = 78;
        ExchangeSpec spec = ParameterServerTest.spec(job, layout, 1, transport);
        List<Long> rounds = new CopyOnWriteArrayList<>();
        String stranger = transport == ExchangeSpec.Transport.IPC ? "aeron:ipc"
            : "aeron:udp?endpoint=127.0.0.1:" + spec.gatherPort();
        try (ParameterServer server = ParameterServer.start(aeron.aeron(), spec, StepListener.NONE,
                 (round, blobs) -> rounds.add(round));
             ExclusivePublication rogue = aeron.aeron().addExclusivePublication(stranger, spec.gatherUpstreamStream());
             GradientClient client = new GradientClient(aeron.aeron(), spec, 0, "127.0.0.1")) {
            client.awaitConnected();
            byte[] mine = blob(1000, 1);
            assertArrayEquals(mine, client.allGather(1, mine)[0]);
            byte[] theirs = blob(1000, 2);
            for (int i = 0; i < 50; i++) {
                rogue.offer(GatherAggregatorTest.frame(job, 0, 2, theirs, 0, 1000));
                Thread.sleep(5);
            }
            assertFalse(rogue.isConnected(), "the stranger's publication found an image");
            assertArrayEquals(mine, client.allGather(2, mine)[0], "rogue frames must not reach the gather");
            assertEquals(0, server.gatherDrops().total(), server.gatherDrops().toString());
        }
        assertEquals(List.of(1L, 2L), rounds);
    }
}
